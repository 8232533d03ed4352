"""The refresh sweep's tests: one module's moto, a real OAuth 2 provider, and authentications made through
the connect flow (tests/functional/jobs/).

The provider's access-token lifetime at connection time decides whether an authentication is due: with
the default 15-minute buffer and 10-minute window, a token expiring within 25 minutes is due; one
expiring in two hours is not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.connect_flow import CLIENT_ID, CLIENT_SECRET, call, connect
from tests.support.moto_stack import reread_settings
from tests.support.oauth2_provider import OAuth2Provider

DUE_LIFETIME, LATER_LIFETIME, REFRESHED_LIFETIME = 600, 7200, 3600
PLENTY: Callable[[], int] = lambda: 900_000  # noqa: E731  (a Lambda with 15 minutes left)

pin_settings = reread_settings
api = call


def register_acme(client: Any, provider: OAuth2Provider) -> Callable[[int], str]:
    """Registers 'acme' on the provider; returns a function connecting one authentication whose access
    token lives ``lifetime`` seconds."""
    status, _ = api(client, "PUT", "/api/acme", provider.definition("Acme"))
    assert status == 201
    credentials = {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}
    status, _ = api(client, "POST", "/api/acme/configurations", {"credentials": credentials})
    assert status == 201

    def connect_one(lifetime: int) -> str:
        provider.access_token_lifetime = lifetime
        auth_id = connect(client, "acme")
        provider.access_token_lifetime = REFRESHED_LIFETIME
        return auth_id

    return connect_one


def stored(client: Any, auth_id: str) -> dict[str, Any]:
    """An authentication as the REST API shows it."""
    status, body = api(client, "GET", f"/api/acme/authentications/{auth_id}")
    assert status == 200, body
    view: dict[str, Any] = body
    return view


def item(auth_id: str) -> Any:
    """An authentication as stored (consistent read)."""
    from chalicelib.integrations.models import Authentication

    return Authentication.get(auth_id, consistent_read=True)
