"""Request models of the broker's customer API, and FastAPI's validation error shape.

The documented API answers validation errors as FastAPI does: 422 ``{"detail": [{"type", "loc",
"msg"}]}`` with ``loc`` starting at ``"path"``, ``"query"`` or ``"body"``. The items leave out
FastAPI's ``input`` and ``ctx``: the input of a request carrying credentials must not be echoed.
This module imports pydantic; only the views that validate a request import it, on first use.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from chalice.app import Request
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, TypeAdapter, ValidationError

from chalicelib.errors import ValidationFailed
from chalicelib.http import is_json_type, parse_json, raw_body

_UUID = TypeAdapter(uuid.UUID)
CREDENTIALS_MAX_BYTES = 16 * 1024
METADATA_MAX_BYTES = 16 * 1024

AuthType = Literal["oauth2", "api_key", "basic"]
NonEmpty = Annotated[str, Field(min_length=1)]
Capability = Annotated[str, Field(min_length=1, max_length=100)]


def error(kind: str, loc: list[str | int], msg: str) -> dict[str, Any]:
    """One validation error item, FastAPI's keys in FastAPI's order."""
    return {"type": kind, "loc": loc, "msg": msg}


def _items(exc: ValidationError, prefix: tuple[str | int, ...]) -> list[dict[str, Any]]:
    return [error(e["type"], [*prefix, *e["loc"]], e["msg"]) for e in exc.errors(include_url=False)]


def path_ids(**values: str) -> dict[str, str]:
    """Path parameters that must be UUIDs, canonical (lowercase, hyphenated); 422 naming every bad one."""
    found: dict[str, str] = {}
    problems: list[dict[str, Any]] = []
    for name, value in values.items():
        try:
            found[name] = str(_UUID.validate_python(value))
        except ValidationError as e:
            problems.extend(_items(e, ("path", name)))
    if problems:
        raise ValidationFailed(details=problems)
    return found


class _Missing:
    """No request body at all (FastAPI: ``missing`` at ``["body"]``, reported with the other errors)."""


MISSING = _Missing()
_NOT_AN_OBJECT = "Input should be a valid dictionary or object to extract fields from"


def json_body(request: Request) -> Any:
    """The body as FastAPI reads it: JSON (422 ``json_invalid`` at once when malformed), :data:`MISSING`
    when empty, the raw bytes for another content type (then refused by :func:`validate`). JSON beyond the
    limits every service shares (:func:`chalicelib.http.parse_json`) is ``json_invalid`` too."""
    data = raw_body(request)
    if not data:
        return MISSING
    content_type = request.headers.get("content-type", "")
    if content_type and not is_json_type(content_type):
        return data
    try:
        return parse_json(data)
    except json.JSONDecodeError as e:
        raise ValidationFailed(details=[error("json_invalid", ["body", e.pos], "JSON decode error")]) from e
    except UnicodeDecodeError as e:
        raise ValidationFailed(details=[error("json_invalid", ["body", 0], "JSON decode error")]) from e


def validate(model: type[BaseModel], value: Any, prefix: tuple[str | int, ...]) -> Any:
    """``value`` validated as ``model``; 422 with every error located under ``prefix``."""
    if value is MISSING:
        raise ValidationFailed(details=[error("missing", list(prefix), "Field required")])
    if not isinstance(value, dict):
        raise ValidationFailed(details=[error("model_attributes_type", list(prefix), _NOT_AN_OBJECT)])
    try:
        return model.model_validate(value)
    except ValidationError as e:
        raise ValidationFailed(details=_items(e, prefix)) from None


# --- bodies -----------------------------------------------------------------------------------------


class BrokerConnectionCreate(BaseModel):
    """POST /v1/customers/{customer_id}/connections."""

    auth_type: AuthType = "oauth2"
    credentials: Annotated[
        dict[str, Any],
        Field(
            description="Provider credentials (stored encrypted). api_key: api_key. basic: username, password. "
            "oauth2: access_token; refresh_token with client_id and client_secret (or a configuration of the "
            "provider's integration) to be refreshed; expires_in (seconds) or expires_at (ISO 8601 or epoch "
            "seconds)."
        ),
    ]
    metadata_json: dict[str, Any] | None = None
    name: Annotated[str, Field(min_length=1, max_length=255, description="admin@iqm.com.au, IQM Master Roster, etc.")]
    provider: Annotated[
        str, Field(min_length=1, max_length=50, description="gmail, xero, google_calendar, deputy, etc.")
    ]
    scopes: Annotated[list[Annotated[str, Field(max_length=512)]], Field(max_length=200)] | None = None


class BrokerGrantCreate(BaseModel):
    """POST /v1/customers/{customer_id}/connections/{connection_id}/grants."""

    capabilities: Annotated[
        list[Capability],
        Field(max_length=100, description="Provider-specific capabilities (e.g. send_mail, read_events)"),
    ]
    instance_id: uuid.UUID


class AuditQuery(BaseModel):
    """Query of GET /v1/customers/{customer_id}/connections/{connection_id}/audit."""

    limit: Annotated[int, Field(ge=1, le=200, description="Page size (1-200, default 50)")] = 50
    cursor: Annotated[str | None, Field(description="next_cursor of the previous page")] = None


# --- credentials, by auth type ----------------------------------------------------------------------


class _Credentials(BaseModel):
    model_config = ConfigDict(extra="allow")


class ApiKeyCredentials(_Credentials):
    api_key: NonEmpty


class BasicCredentials(_Credentials):
    username: NonEmpty
    password: NonEmpty


class OAuth2Credentials(_Credentials):
    access_token: NonEmpty
    refresh_token: NonEmpty | None = None
    client_id: NonEmpty | None = None
    client_secret: NonEmpty | None = None
    token_type: str | None = None
    expires_in: PositiveInt | None = None
    expires_at: datetime | None = None


CREDENTIAL_MODELS: dict[str, type[_Credentials]] = {
    "api_key": ApiKeyCredentials,
    "basic": BasicCredentials,
    "oauth2": OAuth2Credentials,
}


def credentials(auth_type: str, value: dict[str, Any], now_ms: int) -> tuple[dict[str, Any], int | None]:
    """The credentials to store for ``auth_type`` and their expiry (ms), or 422 naming what is missing.

    ``expires_in`` (seconds) or ``expires_at`` (ISO 8601 or epoch seconds) of OAuth 2 credentials
    become the connection's ``expires_at`` and are not stored with the credentials.
    """
    loc = ("body", "credentials")
    checked = validate(CREDENTIAL_MODELS[auth_type], value, loc)
    if len(json.dumps(value, separators=(",", ":"))) > CREDENTIALS_MAX_BYTES:
        raise ValidationFailed(
            details=[
                error(
                    "value_error",
                    list(loc),
                    f"Value error, credentials are limited to {CREDENTIALS_MAX_BYTES} bytes of JSON",
                )
            ]
        )
    if not isinstance(checked, OAuth2Credentials):
        return dict(value), None
    if (checked.client_id is None) != (checked.client_secret is None):
        missing = "client_secret" if checked.client_secret is None else "client_id"
        raise ValidationFailed(details=[error("missing", [*loc, missing], "Field required")])
    stored = {k: v for k, v in value.items() if k not in ("expires_in", "expires_at")}
    if checked.expires_in is not None:
        return stored, now_ms + checked.expires_in * 1000
    if checked.expires_at is not None:
        moment = checked.expires_at if checked.expires_at.tzinfo else checked.expires_at.replace(tzinfo=UTC)
        return stored, int(moment.timestamp() * 1000)
    return stored, None


def metadata_fits(metadata: dict[str, Any] | None) -> None:
    """422 when ``metadata_json`` is larger than the limit."""
    if metadata is not None and len(json.dumps(metadata, separators=(",", ":"))) > METADATA_MAX_BYTES:
        raise ValidationFailed(
            details=[
                error(
                    "value_error",
                    ["body", "metadata_json"],
                    f"Value error, metadata_json is limited to {METADATA_MAX_BYTES} bytes of JSON",
                )
            ]
        )
