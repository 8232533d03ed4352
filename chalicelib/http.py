"""Request parsing, paging and response helpers shared by every service."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from chalice.app import Request, Response

from chalicelib.errors import BadRequest, InvalidJSON, PayloadTooLarge, UnsupportedMediaType
from chalicelib.settings import get_settings

JSON_TYPES = ("application/json",)


def is_json_type(content_type: str) -> bool:
    """Whether a Content-Type header names JSON (``application/json`` or ``application/*+json``)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def raw_body(request: Request) -> bytes:
    """The request body as bytes, refused when larger than the configured limit."""
    body = request.raw_body
    data = body if isinstance(body, bytes) else body.encode()
    if len(data) > get_settings().max_body_bytes:
        raise PayloadTooLarge(f"The request body is larger than {get_settings().max_body_bytes} bytes.")
    return data


def json_body(request: Request, *, required: bool = True) -> Any:
    """The parsed JSON body; 415 for another content type, 400 for malformed or missing JSON."""
    data = raw_body(request)
    if not data.strip():
        if required:
            raise BadRequest("A JSON request body is required.", code="missing_body")
        return None
    content_type = request.headers.get("content-type", "")
    if content_type and not is_json_type(content_type):
        raise UnsupportedMediaType(f"Expected Content-Type application/json, got {content_type.split(';')[0]}.")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidJSON(f"The request body is not valid JSON: {_json_error(e)}") from e


def json_object(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The JSON body, which must be an object."""
    body = json_body(request, required=required)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidJSON("The request body must be a JSON object.")
    return body


def _json_error(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno} column {error.colno}"
    return "it is not UTF-8 text"


def query(request: Request, name: str) -> str | None:
    """One query parameter (the last, if repeated), or None."""
    params = request.query_params
    if not params or name not in params:
        return None
    values = params.getlist(name)
    return values[-1] if values else None


def query_pairs(request: Request) -> list[tuple[str, str]]:
    """Every query parameter, repeated ones included, in order."""
    params = request.query_params
    if not params:
        return []
    return [(name, value) for name in params for value in params.getlist(name)]


def query_dict(request: Request) -> dict[str, str]:
    """The query parameters, the last value of each."""
    return dict(query_pairs(request))


def int_query(request: Request, name: str, default: int, *, minimum: int, maximum: int) -> int:
    """An integer query parameter within bounds; 400 otherwise."""
    raw = query(request, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise BadRequest(f"Query parameter '{name}' must be an integer.", code="invalid_query") from e
    if not minimum <= value <= maximum:
        raise BadRequest(f"Query parameter '{name}' must be between {minimum} and {maximum}.", code="invalid_query")
    return value


def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque paging cursor for a position."""
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, fields: dict[str, type]) -> dict[str, Any]:
    """The position in a cursor made by :func:`encode_cursor`, checked field by field; 400 otherwise."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as e:
        raise BadRequest("The cursor is not valid.", code="invalid_cursor") from e
    if not isinstance(position, dict) or set(position) != set(fields):
        raise BadRequest("The cursor is not valid.", code="invalid_cursor")
    for name, kind in fields.items():
        if not isinstance(position[name], kind) or isinstance(position[name], bool):
            raise BadRequest("The cursor is not valid.", code="invalid_cursor")
    return position


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response with an explicit status."""
    all_headers: dict[str, str | list[str]] = {"Content-Type": "application/json", **(headers or {})}
    return Response(body=json.dumps(body, separators=(",", ":")), status_code=status, headers=all_headers)


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    """A response without a body."""
    all_headers: dict[str, str | list[str]] = {**(headers or {})}
    return Response(body="", status_code=status, headers=all_headers)


def now_ms() -> int:
    """The current time in milliseconds since the epoch."""
    return int(datetime.now(UTC).timestamp() * 1000)


def iso_ms(ms: int | float | None) -> str | None:
    """ISO 8601 UTC with milliseconds (``2020-06-02T13:36:45.517Z``) for a millisecond timestamp."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms) % 1000:03d}Z"


def basic_username(request: Request) -> str | None:
    """The username of an HTTP Basic ``Authorization`` header, or None when absent or malformed."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, _, _password = decoded.partition(":")
    return username


def bearer_token(request: Request) -> str | None:
    """The token of a ``Bearer`` ``Authorization`` header, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
