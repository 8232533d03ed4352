"""Routes of the integrations REST API (Pizzly's): parse, authenticate, call the service, answer."""

from __future__ import annotations

from types import ModuleType

from chalice.app import Response

from chalicelib.errors import KeyportError
from chalicelib.http import int_query, json_object, json_response, query, query_dict, query_pairs
from chalicelib.operators import require_proxy_caller, require_secret_key
from chalicelib.services import blueprint
from chalicelib.settings import get_settings

bp = blueprint(__name__)

PAGE_DEFAULT, PAGE_MAX = 25, 100


def _authorized() -> ModuleType:
    """Check the secret key; the service module, imported on first use to keep cold starts small."""
    require_secret_key(bp.current_request)
    from chalicelib.integrations import service  # on first use (cold start)

    return service


def _page() -> tuple[int, str | None]:
    request = bp.current_request
    return int_query(request, "limit", PAGE_DEFAULT, minimum=1, maximum=PAGE_MAX), query(request, "cursor")


@bp.route("/api", methods=["GET"])
def api_root() -> Response:
    require_secret_key(bp.current_request)
    return json_response({"message": "Keyport is up and your secret key works.", "object": "keyport"})


@bp.route("/api/{integration}", methods=["GET"])
def get_integration(integration: str) -> Response:
    service = _authorized()
    return json_response(service.get_integration(integration))


@bp.route("/api/{integration}", methods=["PUT"])
def put_integration(integration: str) -> Response:
    service = _authorized()
    view, created = service.put_integration(integration, json_object(bp.current_request))
    message = "Integration created" if created else "Integration updated"
    return json_response({"message": message, "integration": view}, 201 if created else 200)


@bp.route("/api/{integration}", methods=["DELETE"])
def delete_integration(integration: str) -> Response:
    service = _authorized()
    service.delete_integration(integration)
    return json_response({"message": "Integration removed"})


@bp.route("/api/{integration}/configurations", methods=["GET"])
def list_configurations(integration: str) -> Response:
    service = _authorized()
    return json_response(service.list_configurations(integration, *_page()))


@bp.route("/api/{integration}/configurations", methods=["POST"])
def create_configuration(integration: str) -> Response:
    service = _authorized()
    view = service.create_configuration(integration, json_object(bp.current_request))
    return json_response({"message": "Configuration registered", "configuration": view}, 201)


@bp.route("/api/{integration}/configurations/{setup_id}", methods=["GET"])
def get_configuration(integration: str, setup_id: str) -> Response:
    service = _authorized()
    return json_response(service.get_configuration(integration, setup_id))


@bp.route("/api/{integration}/configurations/{setup_id}", methods=["PUT"])
def update_configuration(integration: str, setup_id: str) -> Response:
    service = _authorized()
    view = service.update_configuration(integration, setup_id, json_object(bp.current_request))
    return json_response({"message": "Configuration updated", "configuration": view})


@bp.route("/api/{integration}/configurations/{setup_id}", methods=["DELETE"])
def delete_configuration(integration: str, setup_id: str) -> Response:
    service = _authorized()
    service.delete_configuration(integration, setup_id)
    return json_response({"message": "Configuration removed"})


@bp.route("/api/{integration}/authentications", methods=["GET"])
def list_authentications(integration: str) -> Response:
    service = _authorized()
    setup_id = query(bp.current_request, "setup_id")
    return json_response(service.list_authentications(integration, setup_id or None, *_page()))


@bp.route("/api/{integration}/authentications", methods=["POST"])
def create_authentication(integration: str) -> Response:
    service = _authorized()
    view = service.create_authentication(integration, json_object(bp.current_request))
    return json_response({"message": "Authentication created", "authentication": view}, 201)


@bp.route("/api/{integration}/authentications/{auth_id}", methods=["GET"])
def get_authentication(integration: str, auth_id: str) -> Response:
    service = _authorized()
    return json_response(service.get_authentication(integration, auth_id))


@bp.route("/api/{integration}/authentications/{auth_id}", methods=["PUT"])
def update_authentication(integration: str, auth_id: str) -> Response:
    service = _authorized()
    view = service.update_authentication(integration, auth_id, json_object(bp.current_request))
    return json_response({"message": "Authentication updated", "authentication": view})


@bp.route("/api/{integration}/authentications/{auth_id}", methods=["DELETE"])
def delete_authentication(integration: str, auth_id: str) -> Response:
    service = _authorized()
    service.delete_authentication(integration, auth_id)
    return json_response({"message": "Authentication removed"})


@bp.route("/api/{integration}/authentications/{auth_id}/refresh", methods=["GET", "POST"])
def refresh_authentication(integration: str, auth_id: str) -> Response:
    service = _authorized()
    view = service.refresh_authentication(integration, auth_id)
    return json_response({"message": "Authentication refreshed", "authentication": view})


# --- connect flow -----------------------------------------------------------------------------------


def callback_url() -> str:
    """The one callback URL of every integration: a setting, or derived from this request."""
    settings = get_settings()
    if settings.callback_url:
        return settings.callback_url
    if settings.public_url:
        return settings.public_url.rstrip("/") + "/auth/callback"
    request = bp.current_request
    event = request.to_original_event()
    proto = request.headers.get("x-forwarded-proto", "https")
    full_path = request.context.get("path", event.get("path", ""))
    stage_prefix = full_path[: -len(event["path"])] if full_path.endswith(event.get("path", "\0")) else ""
    return f"{proto}://{request.headers.get('host', 'localhost')}{stage_prefix}/auth/callback"


def _connect(step: str, integration: str | None = None) -> Response:
    from chalicelib.integrations import connect  # on first use (cold start)

    try:
        if step == "start":
            assert integration is not None
            outcome = connect.start(integration, query_dict(bp.current_request), callback_url())
        else:
            outcome = connect.callback(query_dict(bp.current_request))
    except KeyportError as e:
        outcome = connect.failure(e)
    if outcome.redirect:
        return Response(body="", status_code=302, headers={"Location": outcome.redirect, "Cache-Control": "no-store"})
    return Response(
        body=connect.page(outcome),
        status_code=outcome.status,
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


@bp.route("/auth/{integration}", methods=["GET"], content_types=["*/*"])
def connect_start(integration: str) -> Response:
    return _connect("start", integration)


@bp.route("/auth/callback", methods=["GET"], content_types=["*/*"])
def connect_callback() -> Response:
    return _connect("callback")


# --- proxy ----------------------------------------------------------------------------------------

PROXY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


def _proxy(integration: str) -> Response:
    try:
        return _forward(integration)
    except KeyportError as e:
        e.headers.update(_cors_headers())  # so a browser caller can read Keyport's own errors too
        raise


def _forward(integration: str) -> Response:
    from chalicelib.integrations import proxy  # on first use (cold start)

    request = bp.current_request
    require_proxy_caller(request)
    call = proxy.ProxyRequest(
        method=request.method,
        tail=(request.uri_params or {}).get("proxy", ""),
        query=query_pairs(request),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=request.raw_body if isinstance(request.raw_body, bytes) else request.raw_body.encode(),
    )
    answer = proxy.forward(integration, call)
    headers = {**answer.headers, **_cors_headers()}
    return Response(body=answer.body, status_code=answer.status, headers=headers)


def _cors_headers() -> dict[str, str]:
    """Browsers call the proxy with the publishable key (pizzly-js): allow the configured origins."""
    origin = bp.current_request.headers.get("origin", "")
    allowed = get_settings().allowed_origins
    if not origin or (allowed and origin not in allowed):
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _preflight() -> Response:
    request = bp.current_request
    headers: dict[str, str | list[str]] = {
        **_cors_headers(),
        "Access-Control-Allow-Methods": ", ".join(PROXY_METHODS),
        "Access-Control-Allow-Headers": request.headers.get("access-control-request-headers", ""),
        "Access-Control-Max-Age": "600",
    }
    return Response(body=b"", status_code=204, headers=headers)


@bp.route("/proxy/{integration}", methods=PROXY_METHODS, content_types=["*/*"])
def proxy_base(integration: str) -> Response:
    return _proxy(integration)


@bp.route("/proxy/{integration}/{proxy+}", methods=PROXY_METHODS, content_types=["*/*"])
def proxy_path(integration: str) -> Response:
    return _proxy(integration)


@bp.route("/proxy/{integration}", methods=["OPTIONS"], content_types=["*/*"])
def proxy_base_preflight(integration: str) -> Response:
    return _preflight()


@bp.route("/proxy/{integration}/{proxy+}", methods=["OPTIONS"], content_types=["*/*"])
def proxy_path_preflight(integration: str) -> Response:
    return _preflight()
