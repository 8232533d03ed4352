"""One error hierarchy for every service, and the one place that renders it.

Views, services and repositories raise these classes; the middleware in ``app.py`` renders them in
the documented error body of the service that owns the request path. The classes subclass Chalice's
``ChaliceUnhandledError`` so they reach the middleware instead of Chalice's own error handling.
"""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

from chalice.app import ChaliceUnhandledError, Response

from chalicelib import services

log = logging.getLogger("keyport")


class KeyportError(ChaliceUnhandledError):
    """Base of every error Keyport answers with."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "An internal error occurred."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.error_code = code or self.code
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(KeyportError):
    status = 400
    code = "bad_request"
    default_message = "The request is not valid."


class InvalidJSON(BadRequest):
    code = "invalid_json"
    default_message = "The request body is not valid JSON."


class Unauthorized(KeyportError):
    status = 401
    code = "unauthorized"
    default_message = "Authentication is required."


class Forbidden(KeyportError):
    status = 403
    code = "forbidden"
    default_message = "You are not allowed to do this."


class NotFound(KeyportError):
    status = 404
    code = "not_found"
    default_message = "Not found."


class MethodNotAllowed(KeyportError):
    status = 405
    code = "method_not_allowed"
    default_message = "This method is not allowed on this path."


class NotAcceptable(KeyportError):
    status = 406
    code = "not_acceptable"
    default_message = "This endpoint answers JSON only."


class Conflict(KeyportError):
    status = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class PayloadTooLarge(KeyportError):
    status = 413
    code = "payload_too_large"
    default_message = "The request body is too large."


class UnsupportedMediaType(KeyportError):
    status = 415
    code = "unsupported_media_type"
    default_message = "The request body must be JSON (Content-Type: application/json)."


class Unprocessable(KeyportError):
    status = 422
    code = "unprocessable"
    default_message = "The request could not be processed."


class ValidationFailed(Unprocessable):
    """Field-level validation errors; ``details`` holds ``{"loc", "msg", "type"}`` items."""

    code = "validation_failed"
    default_message = "The request is not valid."


class TooManyRequests(KeyportError):
    status = 429
    code = "too_many_requests"
    default_message = "Too many requests; slow down."


class IntegrityError(KeyportError):
    """A stored secret failed authentication on decryption: tampered with, or moved."""

    status = 500
    code = "integrity_error"
    default_message = "A stored secret could not be decrypted."


class BadGateway(KeyportError):
    status = 502
    code = "bad_gateway"
    default_message = "An upstream service failed."


class ResponseTooLarge(BadGateway):
    """An answer larger than a Lambda function may return (chalicelib/limits.py); API Gateway would send a bare 502."""

    code = "response_too_large"
    default_message = (
        "The response is larger than the 6 MB (about 4.5 MB of body) Keyport can return; ask for less, "
        "for example a smaller page or range."
    )


class ServiceUnavailable(KeyportError):
    status = 503
    code = "service_unavailable"
    default_message = "A service Keyport depends on is unavailable; try again shortly."


# --- rendering ---------------------------------------------------------------------------------


def style_for_path(path: str) -> str:
    """Which documented error body a request path answers in: its service's (``chalicelib.services``)."""
    return services.error_style(path)


_PLATFORM_TAGS = {
    400: ["error_bad_request"],
    401: ["error_unauthorized"],
    403: ["error_credentials", "error_forbidden"],
    404: ["error_not_found"],
    405: ["error_method_not_allowed"],
    409: ["error_conflict"],
    413: ["error_payload_too_large"],
    415: ["error_unsupported_media_type"],
    422: ["error_unprocessable"],
    429: ["error_too_many_requests"],
}


def _reason(status: int) -> str:
    from http import HTTPStatus  # two error bodies only: its enum stays out of the cold start (0.5 ms)

    try:
        return HTTPStatus(status).phrase
    except ValueError:  # pragma: no cover - every status we raise is a standard one
        return "Error"


def error_body(error: KeyportError, style: str) -> dict[str, Any]:
    """The documented error body of ``style`` for ``error``."""
    status = error.status
    if style == "broker":
        if error.details is not None:
            return {"detail": error.details}
        return {"detail": error.message}
    if style == "giistr":
        return {"status": f"{status} {_reason(status)}", "message": error.message}
    if style == "autotune":
        return {"error": error.message}
    if style == "platform":
        documented = status in (401, 403, 404)
        return {
            "success": False,
            "code": str(status),
            "message": _reason(status) if documented else error.message,
            "tags": _PLATFORM_TAGS.get(status, ["error_internal"] if status >= 500 else ["error_request"]),
        }
    return {"error": {"type": error.error_code, "message": error.message}}


def render(error: KeyportError, path: str) -> Response:
    """A Chalice response carrying ``error`` in the body of the service owning ``path``."""
    if style_for_path(path) == "dashboard":  # the dashboard's pages answer HTML, not a JSON body
        from chalicelib.dashboard.render import error_page

        return error_page(error.status, error.error_code, error.message, error.headers)
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json", **error.headers}
    body = json.dumps(error_body(error, style_for_path(path)), separators=(",", ":"))
    return Response(body=body, status_code=error.status, headers=headers)


_CHALICE_CODES: dict[str, type[KeyportError]] = {
    "MethodNotAllowedError": MethodNotAllowed,
    "UnsupportedMediaType": UnsupportedMediaType,
    "BadRequest": BadRequest,
    "BadRequestError": BadRequest,
    "NotFoundError": NotFound,
    "UnauthorizedError": Unauthorized,
    "ForbiddenError": Forbidden,
    "ConflictError": Conflict,
    "UnprocessableEntityError": Unprocessable,
    "TooManyRequestsError": TooManyRequests,
}


def from_chalice_response(response: Response) -> KeyportError | None:
    """The Keyport error for a response Chalice built itself (``{"Code", "Message"}``), if it is one."""
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or set(body) != {"Code", "Message"}:
        return None
    if response.status_code >= 500:
        return KeyportError()
    cls = _CHALICE_CODES.get(str(body["Code"]), BadRequest)
    headers = {k: str(v) for k, v in response.headers.items() if k.lower() == "allow"}
    return cls(str(body["Message"]), headers=headers)
