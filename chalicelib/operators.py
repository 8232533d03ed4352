"""The operator secret key: HTTP Basic with the key as username, compared in constant time."""

from __future__ import annotations

from chalice.app import Request

from chalicelib.crypto import same
from chalicelib.errors import Unauthorized
from chalicelib.http import basic_username, query_dict
from chalicelib.settings import get_settings


def require_secret_key(request: Request) -> None:
    """Refuse the request unless it carries the operator secret key; never open when none is set."""
    configured = get_settings().secret_key
    if not configured:
        raise Unauthorized(
            "This server has no secret key configured (set SECRET_KEY); protected routes are closed.",
            code="missing_secret_key",
        )
    given = basic_username(request)
    if not given:
        raise Unauthorized(
            "A secret key is required: send it as the username of HTTP Basic authentication.",
            code="missing_secret_key",
            headers={"WWW-Authenticate": 'Basic realm="keyport"'},
        )
    if not same(given, configured):
        raise Unauthorized(
            "The secret key is not valid.",
            code="invalid_secret_key",
            headers={"WWW-Authenticate": 'Basic realm="keyport"'},
        )


def has_secret_key(request: Request) -> bool:
    """Whether the request carries the operator secret key (without raising)."""
    configured = get_settings().secret_key
    given = basic_username(request)
    return bool(configured and given and same(given, configured))


def require_proxy_caller(request: Request) -> None:
    """The proxy accepts the secret key, or the publishable key (``pizzly_pkey``) when one is configured."""
    settings = get_settings()
    publishable = query_dict(request).get("pizzly_pkey")
    if publishable and settings.publishable_key:
        if not same(publishable, settings.publishable_key):
            raise Unauthorized("The publishable key is not valid.", code="invalid_publishable_key")
        return
    require_secret_key(request)
