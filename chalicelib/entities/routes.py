"""Routes of the entity store (the platform API) and its operator routes: parse, authenticate, call, answer.

The websocket handlers cannot live on a Blueprint (Chalice does not wrap them): they are in ``app.py``
and call :mod:`chalicelib.entities.realtime`; the websocket's functions (open, push, sweep) are here.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from chalice.app import CloudWatchEvent, Rate, Response

from chalicelib.errors import BadRequest, UnsupportedMediaType
from chalicelib.http import int_query, is_json_type, json_object, json_response, query, query_dict, raw_body
from chalicelib.operators import require_secret_key
from chalicelib.services import blueprint

bp = blueprint(__name__)

OK = {"sucess": True, "success": True}  # "sucess" as documented, "success" for clients that spell it right
PAGE_DEFAULT, PAGE_MAX = 25, 100


def _json_text(text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(body=text, status_code=200, headers={"Content-Type": "application/json", **(headers or {})})


def _caller() -> Any:
    """The signed-in user (401 otherwise)."""
    from chalicelib.entities import auth

    return auth.authenticate(bp.current_request.headers)


def _entities() -> tuple[Any, ModuleType]:
    """The caller and the entity service, imported on first use to keep cold starts small."""
    caller = _caller()
    from chalicelib.entities import service

    return caller, service


def _body() -> bytes:
    """The raw JSON body (numbers are parsed exactly by the service)."""
    request = bp.current_request
    data = raw_body(request)
    if not data.strip():
        raise BadRequest("A JSON request body is required.", code="missing_body")
    content_type = request.headers.get("content-type", "")
    if content_type and not is_json_type(content_type):
        raise UnsupportedMediaType()
    return data


# --- sign in and out -------------------------------------------------------------------------------


@bp.route("/api/v1/auth", methods=["POST"])
def sign_in() -> Response:
    from chalicelib.entities import auth

    issued = auth.start_session(json_object(bp.current_request))
    return json_response(OK, headers={"Set-Cookie": auth.session_cookie(issued.secret, issued.expires_at)})


@bp.route("/api/v1/auth", methods=["GET"])
def who_am_i() -> Response:
    caller = _caller()
    return json_response({**OK, "_id": caller.user_id, "login": caller.login, "group": caller.group_id})


@bp.route("/api/v1/auth/token", methods=["POST"])
def issue_token() -> Response:
    from chalicelib.entities import auth

    issued = auth.issue_token(json_object(bp.current_request))
    return json_response(
        {**OK, "type": "access", "token": issued.secret, "issuedAt": issued.issued_at, "expiresAt": issued.expires_at}
    )


@bp.route("/api/v1/auth/logout", methods=["POST"])
def sign_out() -> Response:
    from chalicelib.entities import auth

    caller = _caller()
    auth.end(caller)
    headers = {"Set-Cookie": auth.cleared_cookie()} if caller.kind == auth.SESSION else {}
    return json_response(OK, headers=headers)


# --- stores ----------------------------------------------------------------------------------------


@bp.route("/api/v1/{store}", methods=["GET"])
def list_entities(store: str) -> Response:
    caller, service = _entities()
    return _json_text(service.list_entities(caller, store, query_dict(bp.current_request)))


@bp.route("/api/v1/{store}", methods=["POST"])
def create_entity(store: str) -> Response:
    caller, service = _entities()
    return _json_text(service.create(caller, store, _body()))


@bp.route("/api/v1/{store}/{entity_id}", methods=["GET"])
def get_entity(store: str, entity_id: str) -> Response:
    caller, service = _entities()
    return _json_text(service.get(caller, store, entity_id))


@bp.route("/api/v1/{store}/{entity_id}", methods=["PATCH"])
def patch_entity(store: str, entity_id: str) -> Response:
    caller, service = _entities()
    return _json_text(service.patch(caller, store, entity_id, _body()))


@bp.route("/api/v1/{store}/{entity_id}", methods=["DELETE"])
def delete_entity(store: str, entity_id: str) -> Response:
    caller, service = _entities()
    return json_response({**OK, "_id": service.delete(caller, store, entity_id)})


# --- operators: users and groups ---------------------------------------------------------------------


def _accounts() -> ModuleType:
    """Check the secret key; the accounts module."""
    require_secret_key(bp.current_request)
    from chalicelib.entities import accounts

    return accounts


def _page() -> tuple[int, str | None]:
    request = bp.current_request
    return int_query(request, "limit", PAGE_DEFAULT, minimum=1, maximum=PAGE_MAX), query(request, "cursor")


@bp.route("/admin/platform/users", methods=["POST"])
def admin_create_user() -> Response:
    accounts = _accounts()
    return json_response(
        {"message": "User created", "user": accounts.create_user(json_object(bp.current_request))}, 201
    )


@bp.route("/admin/platform/users", methods=["GET"])
def admin_list_users() -> Response:
    accounts = _accounts()
    return json_response(accounts.list_users(query(bp.current_request, "group") or None, *_page()))


@bp.route("/admin/platform/users/{login}", methods=["GET"])
def admin_get_user(login: str) -> Response:
    accounts = _accounts()
    return json_response(accounts.get_user(login))


@bp.route("/admin/platform/users/{login}", methods=["PATCH"])
def admin_update_user(login: str) -> Response:
    accounts = _accounts()
    view = accounts.update_user(login, json_object(bp.current_request))
    return json_response({"message": "User updated", "user": view})


@bp.route("/admin/platform/users/{login}", methods=["DELETE"])
def admin_delete_user(login: str) -> Response:
    accounts = _accounts()
    accounts.delete_user(login)
    return json_response({"message": "User removed"})


@bp.route("/admin/platform/groups", methods=["POST"])
def admin_create_group() -> Response:
    accounts = _accounts()
    view = accounts.create_group(json_object(bp.current_request))
    return json_response({"message": "Group created", "group": view}, 201)


@bp.route("/admin/platform/groups", methods=["GET"])
def admin_list_groups() -> Response:
    accounts = _accounts()
    return json_response(accounts.list_groups(*_page()))


@bp.route("/admin/platform/groups/{name}", methods=["GET"])
def admin_get_group(name: str) -> Response:
    accounts = _accounts()
    return json_response(accounts.get_group(name))


@bp.route("/admin/platform/groups/{name}", methods=["DELETE"])
def admin_delete_group(name: str) -> Response:
    accounts = _accounts()
    accounts.delete_group(name)
    return json_response({"message": "Group removed"})


# --- websocket background functions (Lambda loads them from this module; the handlers are in app.py) -----


@bp.lambda_function(name="ws_open")
def ws_open(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Send the Engine.IO open packet and 40 to a new connection (invoked asynchronously by $connect)."""
    from chalicelib.entities import realtime

    return realtime.open_connection(event)


@bp.lambda_function(name="ws_push")
def ws_push(event: dict[str, Any], context: Any) -> dict[str, int]:
    """Send one entity event to the connections of everyone who may read the entity."""
    from chalicelib.entities import sockets

    return sockets.push(event)


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="ws_sweep")
def ws_sweep(event: CloudWatchEvent) -> dict[str, int]:
    """Every minute: close websockets silent for longer than pingInterval + pingTimeout."""
    from chalicelib.entities import realtime

    context: Any = event.context
    return realtime.sweep(context.get_remaining_time_in_millis)
