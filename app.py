"""Keyport: one Chalice application serving every Keyport API.

Each service declares itself once (``chalicelib/<service>/declaration.py``, read by ``chalicelib.services``);
its blueprint carries its routes, schedules and Lambda functions, and is registered here. What a blueprint
cannot carry stays here: the middleware that renders every error in the documented body of the service
owning the path, the websocket handlers, and the answers for unknown paths and methods. Imports stay small:
each route imports what it needs when called.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, Request, Response, WebsocketEvent

from chalicelib import deadline, errors, observability, services
from chalicelib.http import json_response, raw_body, require_unicode_parameters
from chalicelib.limits import refuse_oversized

app = Chalice(app_name="keyport")
# Every body is binary-safe: the proxy passes arbitrary bytes, so API Gateway hands bodies over in base64.
app.api.binary_types = ["*/*"]

ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

# A routes module imports only Chalice and small helpers at module level; its service, repository and
# models are imported inside the views, so a cold start loads one service.
for _service in services.declared():
    if _service.blueprint is not None:
        app.register_blueprint(_service.load_blueprint())


observability.configure()  # the log level, and JSON log lines on Lambda
access_log = logging.getLogger("keyport.access")


@app.middleware("http")
def error_boundary(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """Render every error, ours or Chalice's, in the documented body of the service owning the path."""
    path = request.to_original_event().get("path") or request.path
    route = request.context.get("resourcePath") or request.path
    started = time.perf_counter()
    with observability.request_context(
        request_id=request.context.get("requestId"),
        lambda_request_id=getattr(request.lambda_context, "aws_request_id", None),
        function=os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        service=_service_of(route, request.method, path),
        route=f"{request.method} {route}",
    ):
        response = _answer(request, get_response, path)
        status = response.status_code
        outcome = "ok" if status < 400 else "refused" if status < 500 else "failed"
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        # The context as fields of the record too, for any formatter (Lambda's own JSON format included).
        extra = {**observability.fields(), "status": status, "outcome": outcome, "duration_ms": duration_ms}
        access_log.info("request", extra=extra)
    return response


def _service_of(route: str, method: str, path: str) -> str:
    """The service whose blueprint serves the route (its package name), else the one owning the path."""
    entry = app.routes.get(route, {}).get(method)
    module = getattr(getattr(entry, "view_function", None), "__module__", "") or ""
    parts = module.split(".")
    if len(parts) == 3 and parts[0] == "chalicelib":
        return parts[1]
    return services.owning(path).name


def _answer(request: Request, get_response: Callable[[Request], Response], path: str) -> Response:
    if "accept" not in request.headers:
        # HTTP reads a missing Accept as "anything"; Chalice would refuse a binary (here: every) response.
        request.headers._dict["accept"] = "*/*"
    try:
        # Answer inside API Gateway's 29 s: AWS calls and outbound HTTP take their timeouts from this deadline.
        with deadline.started(deadline.budget_seconds(request.lambda_context)):
            if request.raw_body:
                raw_body(request)  # refuses oversized bodies before any route reads them
            require_unicode_parameters(request)  # path and query text that no table, log or answer can hold
            response = _respond_once(request, get_response)
            refuse_oversized(response)  # over Lambda's 6 MB, API Gateway would answer a bare 502
    except errors.KeyportError as e:
        if e.status >= 500:
            errors.log.error("request %s failed: %s", request.context.get("requestId"), e.error_code, exc_info=e)
        return errors.render(e, path)
    translated = errors.from_chalice_response(response)
    if translated is not None:
        if translated.status >= 500:
            errors.log.error("request %s failed with an unexpected error", request.context.get("requestId"))
        return errors.render(translated, path)
    return response


def _respond_once(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """Run the route; a create carrying an Idempotency-Key runs once per key, and its answer is replayed."""
    if request.method == "POST" and "idempotency-key" in request.headers:
        from chalicelib import idempotency

        if idempotency.applies(request):
            return idempotency.run(request, get_response)
    return get_response(request)


# --- entity store websocket (socket.io, Engine.IO 3): thin handlers; Blueprints cannot carry them --------
app.experimental_feature_flags.update(["WEBSOCKETS"])


@app.on_ws_connect()
def ws_connect(event: WebsocketEvent) -> dict[str, Any]:
    """$connect: check the session or token and store the connection."""
    from chalicelib.entities import realtime

    return realtime.connect(event.to_dict())


@app.on_ws_message()
def ws_message(event: WebsocketEvent) -> None:
    """$default: Engine.IO pings and Socket.IO namespace packets."""
    from chalicelib.entities import realtime

    realtime.message(event.to_dict())


@app.on_ws_disconnect()
def ws_disconnect(event: WebsocketEvent) -> None:
    """$disconnect: forget the connection."""
    from chalicelib.entities import realtime

    realtime.disconnect(event.to_dict())


@app.route("/openapi.json", methods=["GET"])
def openapi_document() -> Response:
    """The OpenAPI 3.1 document of every route (no authentication)."""
    from chalicelib.openapi import document  # on first call: the services' documents stay out of the cold start

    return json_response(document(app.current_request))


def _not_found(**_params: str) -> Response:
    raise errors.NotFound("No route matches this path.", code="missing")


_ROUTED: dict[str, list[str]] = {}


def _method_not_allowed(**_params: str) -> Response:
    request = app.current_request
    assert request is not None
    allowed = ", ".join(_ROUTED.get(request.path, []))
    raise errors.MethodNotAllowed(
        f"{request.method} is not allowed here; allowed: {allowed}.", headers={"Allow": allowed}
    )


def _complete_routes() -> None:
    """Answer unknown paths and unsupported methods in the service's error body, not API Gateway's."""
    for path in list(app.routes):
        _ROUTED[path] = sorted(app.routes[path])
        missing = [m for m in ALL_METHODS if m not in app.routes[path]]
        if missing:
            name = "method_not_allowed_" + "".join(c if c.isalnum() else "_" for c in path)
            app.route(path, methods=missing, name=name, content_types=["*/*"])(_method_not_allowed)
    app.route("/", methods=list(ALL_METHODS), name="root_not_found", content_types=["*/*"])(_not_found)
    app.route("/{proxy+}", methods=list(ALL_METHODS), name="not_found", content_types=["*/*"])(_not_found)


_complete_routes()
