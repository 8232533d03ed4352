"""Routes of the publishing API (Autotune's): projects, blueprints, themes, and the operators' accounts API.

Every Autotune route wants ``Accept`` to allow JSON (406 otherwise), a body sent as JSON (415
otherwise) and ``Authorization: API-KEY auth=KEY`` (401). The operators' routes under
``/admin/autotune/`` take the secret key (HTTP Basic). The rules (``projects``, ``blueprints``,
``themes``, ``accounts``) are imported on a view's first call, so the app's cold start does not carry them.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from chalice.app import CloudWatchEvent, Rate, Response

from chalicelib.errors import BadRequest, NotAcceptable, UnsupportedMediaType
from chalicelib.http import empty_response, int_query, is_json_type, json_object, json_response, query, query_pairs
from chalicelib.http import raw_body as read_body
from chalicelib.operators import require_secret_key
from chalicelib.services import blueprint
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.publishing.fields import Listing, Paging

bp = blueprint(__name__)

PER_PAGE_DEFAULT, PER_PAGE_MAX = 15, 100
ANY = ["*/*"]  # the views check Content-Type themselves, to answer with a clear message
ACCEPTED = {"status": "accepted"}
PROJECT_FILTERS = ("theme", "blueprint", "pub_status", "search", "group", "status", "type")
BLUEPRINT_FILTERS = ("type", "status", "search")
THEME_FILTERS = ("status", "group", "search")


# --- request handling -----------------------------------------------------------------------------------


def accepts_json(accept: str) -> bool:
    """Whether an Accept header allows application/json (``*/*``, ``application/*``, ``+json`` types)."""
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        media = media.lower()
        quality = next((p.split("=", 1)[1] for p in params if p.lower().startswith("q=")), "1")
        try:
            if float(quality) <= 0:
                continue
        except ValueError:
            continue
        if media in ("*/*", "application/*", "application/json") or (
            media.startswith("application/") and media.endswith("+json")
        ):
            return True
    return False


def _caller() -> Any:
    """Check Accept, then the API key: the actor."""
    request = bp.current_request
    if not accepts_json(request.headers.get("accept", "*/*")):
        raise NotAcceptable("This API answers JSON only: send 'Accept: application/json'.")
    from chalicelib.publishing import accounts  # on first use: keeps the models out of the app's cold start

    return accounts.authenticate(request.headers.get("authorization"))


def _projects() -> ModuleType:
    from chalicelib.publishing import projects  # on first use: keeps the models out of the app's cold start

    return projects


def _blueprints() -> ModuleType:
    from chalicelib.publishing import blueprints  # on first use: keeps the models out of the app's cold start

    return blueprints


def _themes() -> ModuleType:
    from chalicelib.publishing import themes  # on first use: keeps the models out of the app's cold start

    return themes


def _body() -> dict[str, Any]:
    """The JSON object sent: 415 unless Content-Type is JSON, 400 when missing or malformed."""
    request = bp.current_request
    content_type = request.headers.get("content-type", "")
    if not read_body(request).strip():
        raise BadRequest("A JSON request body is required.", code="missing_body")
    if not is_json_type(content_type):
        given = content_type.split(";")[0].strip() or "none"
        raise UnsupportedMediaType(f"Send the body as JSON with 'Content-Type: application/json' (got {given}).")
    return json_object(request)


def _filters(names: tuple[str, ...]) -> dict[str, str]:
    request = bp.current_request
    found = {name: query(request, name) for name in names}
    return {name: value.strip() for name, value in found.items() if value is not None and value.strip()}


def _paging() -> Paging:
    request = bp.current_request
    page = int_query(request, "page", 1, minimum=1, maximum=1_000_000)
    per_page = int_query(request, "per_page", PER_PAGE_DEFAULT, minimum=1, maximum=PER_PAGE_MAX)
    from chalicelib.publishing.fields import Paging  # on a list's first call: the app's cold start skips it

    return Paging(page, per_page)


def _base_url() -> str:
    """The URL of this request's path, as the caller reached it (for Link headers)."""
    request = bp.current_request
    event = request.to_original_event()
    path = event.get("path") or request.path
    public = get_settings().public_url
    if public:
        return public.rstrip("/") + path
    full_path = request.context.get("path", path)
    proto = request.headers.get("x-forwarded-proto", "https")
    return f"{proto}://{request.headers.get('host', 'localhost')}{full_path}"


def _listing(listing: Listing) -> Response:
    """A page of a list with its ``X-Total`` and ``Link`` (first, last, next, prev) headers."""
    paging = listing.paging
    last = max(1, math.ceil(listing.total / paging.per_page))
    pairs = [(k, v) for k, v in query_pairs(bp.current_request) if k not in ("page", "per_page")]
    base = _base_url()

    def link(page: int, rel: str) -> str:
        return f'<{base}?{urlencode([*pairs, ("page", page), ("per_page", paging.per_page)])}>; rel="{rel}"'

    links = [link(1, "first"), link(last, "last")]
    if paging.page < last:
        links.append(link(paging.page + 1, "next"))
    if paging.page > 1:
        links.append(link(min(paging.page - 1, last), "prev"))
    return json_response(listing.items, headers={"X-Total": str(listing.total), "Link": ", ".join(links)})


# --- projects ------------------------------------------------------------------------------------------------


@bp.route("/projects", methods=["GET"], content_types=ANY)
def list_projects() -> Response:
    actor = _caller()
    return _listing(_projects().list_projects(actor, _filters(PROJECT_FILTERS), _paging()))


@bp.route("/projects", methods=["POST"], content_types=ANY)
def create_project() -> Response:
    actor = _caller()
    return json_response(_projects().create_project(actor, _body()), 201)


@bp.route("/projects/{id}", methods=["GET"], content_types=ANY)
def get_project(id: str) -> Response:
    actor = _caller()
    return json_response(_projects().get_project(actor, id))


@bp.route("/projects/{id}", methods=["PUT", "PATCH"], content_types=ANY)
def update_project(id: str) -> Response:
    actor = _caller()
    return json_response(_projects().update_project(actor, id, _body()))


@bp.route("/projects/{id}", methods=["DELETE"], content_types=ANY)
def delete_project(id: str) -> Response:
    actor = _caller()
    _projects().delete_project(actor, id)
    return empty_response()


@bp.route("/projects/{id}/update_snapshot", methods=["GET"], content_types=ANY)
def update_snapshot(id: str) -> Response:
    actor = _caller()
    _projects().queue_project_job(actor, id, "upgrade")
    return json_response(ACCEPTED, 202)


@bp.route("/projects/{id}/build", methods=["GET"], content_types=ANY)
def build_project(id: str) -> Response:
    actor = _caller()
    _projects().queue_project_job(actor, id, "build")
    return json_response(ACCEPTED, 202)


@bp.route("/projects/{id}/build_and_publish", methods=["GET"], content_types=ANY)
def build_and_publish(id: str) -> Response:
    actor = _caller()
    _projects().queue_project_job(actor, id, "publish")
    return json_response(ACCEPTED, 202)


# --- blueprints ----------------------------------------------------------------------------------------------


@bp.route("/blueprints", methods=["GET"], content_types=ANY)
def list_blueprints() -> Response:
    actor = _caller()
    return _listing(_blueprints().list_blueprints(actor, _filters(BLUEPRINT_FILTERS), _paging()))


@bp.route("/blueprints", methods=["POST"], content_types=ANY)
def create_blueprint() -> Response:
    actor = _caller()
    return json_response(_blueprints().create_blueprint(actor, _body()), 201)


@bp.route("/blueprints/{id}", methods=["GET"], content_types=ANY)
def get_blueprint(id: str) -> Response:
    actor = _caller()
    return json_response(_blueprints().get_blueprint(actor, id))


@bp.route("/blueprints/{id}", methods=["PUT", "PATCH"], content_types=ANY)
def update_blueprint(id: str) -> Response:
    actor = _caller()
    return json_response(_blueprints().update_blueprint(actor, id, _body()))


@bp.route("/blueprints/{id}", methods=["DELETE"], content_types=ANY)
def delete_blueprint(id: str) -> Response:
    actor = _caller()
    _blueprints().delete_blueprint(actor, id)
    return empty_response()


@bp.route("/blueprints/{id}/update_repo", methods=["GET"], content_types=ANY)
def update_repo(id: str) -> Response:
    actor = _caller()
    _blueprints().update_repo(actor, id)
    return json_response(ACCEPTED, 202)


# --- themes ----------------------------------------------------------------------------------------------------


@bp.route("/themes", methods=["GET"], content_types=ANY)
def list_themes() -> Response:
    actor = _caller()
    return _listing(_themes().list_themes(actor, _filters(THEME_FILTERS), _paging()))


@bp.route("/themes", methods=["POST"], content_types=ANY)
def create_theme() -> Response:
    actor = _caller()
    return json_response(_themes().create_theme(actor, _body()), 201)


@bp.route("/themes/{id}", methods=["GET"], content_types=ANY)
def get_theme(id: str) -> Response:
    actor = _caller()
    return json_response(_themes().get_theme(actor, id))


@bp.route("/themes/{id}", methods=["PUT", "PATCH"], content_types=ANY)
def update_theme(id: str) -> Response:
    actor = _caller()
    return json_response(_themes().update_theme(actor, id, _body()))


@bp.route("/themes/{id}", methods=["DELETE"], content_types=ANY)
def delete_theme(id: str) -> Response:
    actor = _caller()
    _themes().delete_theme(actor, id)
    return empty_response()


@bp.route("/themes/{id}/reset", methods=["GET"], content_types=ANY)
def reset_theme(id: str) -> Response:
    actor = _caller()
    _themes().reset_theme(actor, id)
    return json_response(ACCEPTED, 202)


# --- operators: users, keys, groups, roles ----------------------------------------------------------------------


def _accounts() -> ModuleType:
    require_secret_key(bp.current_request)
    from chalicelib.publishing import accounts  # on first use: keeps the models out of the app's cold start

    return accounts


@bp.route("/admin/autotune/users", methods=["POST"])
def admin_create_user() -> Response:
    accounts = _accounts()
    return json_response(accounts.create_user(json_object(bp.current_request)), 201)


@bp.route("/admin/autotune/users/{user}", methods=["GET"])
def admin_get_user(user: str) -> Response:
    return json_response(_accounts().get_user(user))


@bp.route("/admin/autotune/users/{user}", methods=["PATCH"])
def admin_update_user(user: str) -> Response:
    accounts = _accounts()
    return json_response(accounts.update_user(user, json_object(bp.current_request)))


@bp.route("/admin/autotune/users/{user}/api_key", methods=["POST"])
def admin_rotate_key(user: str) -> Response:
    return json_response(_accounts().rotate_key(user))


@bp.route("/admin/autotune/groups", methods=["GET"])
def admin_list_groups() -> Response:
    return json_response(_accounts().list_groups())


@bp.route("/admin/autotune/groups", methods=["POST"])
def admin_create_group() -> Response:
    accounts = _accounts()
    return json_response(accounts.create_group(json_object(bp.current_request)), 201)


@bp.route("/admin/autotune/groups/{group}", methods=["GET"])
def admin_get_group(group: str) -> Response:
    return json_response(_accounts().get_group(group))


@bp.route("/admin/autotune/groups/{group}/members/{user}", methods=["PUT"])
def admin_set_member(group: str, user: str) -> Response:
    accounts = _accounts()
    view, created = accounts.set_member(group, user, json_object(bp.current_request))
    return json_response(view, 201 if created else 200)


@bp.route("/admin/autotune/groups/{group}/members/{user}", methods=["DELETE"])
def admin_remove_member(group: str, user: str) -> Response:
    _accounts().remove_member(group, user)
    return empty_response()


# --- background functions (Lambda loads them from this module) -------------------------------------------


@bp.lambda_function(name="build_worker")
def build_worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run one queued project build or blueprint repository update (invoked asynchronously)."""
    from chalicelib.publishing import builds  # on first use: the worker's modules stay out of the API's cold start

    return builds.handle(event)


@bp.schedule(Rate(5, unit=Rate.MINUTES), name="build_sweep")
def build_sweep(event: CloudWatchEvent) -> dict[str, int]:
    """Every 5 minutes: end broken every publishing job whose worker died (past its deadline)."""
    from chalicelib.publishing import builds  # on first use, as above

    return builds.sweep()
