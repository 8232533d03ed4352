"""The operator secret key: HTTP Basic with the key as username, compared in constant time.

During a rotation two keys are valid (the current and the previous one, chalicelib/secret_keys.py);
the given key is compared with both, always, so the time taken does not tell which one matched.
"""

from __future__ import annotations

from chalice.app import Request

from chalicelib.crypto import same
from chalicelib.errors import Unauthorized
from chalicelib.http import basic_username, query_dict
from chalicelib.secret_keys import operator_keys, publishable_key


def _matches(given: str, keys: tuple[str, ...]) -> bool:
    matched = False
    for key in keys:
        matched |= same(given, key)  # no short cut: compare with every valid key
    return matched


def require_secret_key(request: Request) -> None:
    """Refuse the request unless it carries the operator secret key; never open when none is set."""
    configured = operator_keys()
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
    if not _matches(given, configured):
        raise Unauthorized(
            "The secret key is not valid.",
            code="invalid_secret_key",
            headers={"WWW-Authenticate": 'Basic realm="keyport"'},
        )


def has_secret_key(request: Request) -> bool:
    """Whether the request carries the operator secret key (without raising)."""
    configured = operator_keys()
    given = basic_username(request)
    return bool(configured and given and _matches(given, configured))


def require_proxy_caller(request: Request) -> None:
    """The proxy accepts the secret key, or the publishable key (``pizzly_pkey``) when one is configured."""
    publishable = query_dict(request).get("pizzly_pkey")
    expected = publishable_key() if publishable else None
    if publishable and expected:
        if not same(publishable, expected):
            raise Unauthorized("The publishable key is not valid.", code="invalid_publishable_key")
        return
    require_secret_key(request)
