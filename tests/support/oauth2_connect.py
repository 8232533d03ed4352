"""The OAuth 2 connect flow as a browser popup goes through it, for the tests in
tests/functional/integrations/connect_oauth2/: Keyport's redirect to the provider followed with requests,
the provider's redirect back taken through the test client, and what the flow stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from tests.support import connect_flow
from tests.support.connect_flow import CALLBACK, CLIENT_ID, CLIENT_SECRET, call, callback_message, start


def message(page: Any) -> dict[str, Any]:
    """The message the callback page posts to window.opener (an HTML page)."""
    assert page.headers["Content-Type"].startswith("text/html")
    return callback_message(page)


@dataclass
class Connected:
    start: Any  # Keyport's answer to /auth/{integration}
    authorize: requests.Response  # the provider's answer to /authorize
    callback: Any  # Keyport's answer to /auth/callback

    @property
    def event(self) -> dict[str, Any]:
        return message(self.callback)


def follow(client: Any, start_response: Any) -> Connected:
    """Follow Keyport's redirect to the provider, and the provider's back to Keyport."""
    assert start_response.status_code == 302, start_response.body
    authorize = requests.get(start_response.headers["Location"], allow_redirects=False, timeout=5)
    assert authorize.status_code == 302, authorize.text
    back = urlsplit(authorize.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK
    return Connected(start_response, authorize, client.http.get(f"{back.path}?{back.query}"))


def connect(client: Any, integration: str, **query: str) -> Connected:
    return follow(client, start(client, integration, **query))


def location_query(response: Any) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def authentications(client: Any, integration: str) -> list[dict[str, Any]]:
    status, body = call(client, "GET", f"/api/{integration}/authentications?limit=100")
    assert status == 200, body
    items: list[dict[str, Any]] = body["data"]
    return items


def register(client: Any, integration: str, definition: dict[str, Any], scopes: list[str] | None = None) -> str:
    """PUT the integration and POST a configuration with the provider's client; the setup id."""
    credentials = {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}
    return connect_flow.register(client, integration, definition, credentials, scopes or [])


def state_item(start_response: Any) -> Any:
    """The stored OAuthState of a started flow (keyed by the SHA-256 of the state sent to the provider)."""
    from chalicelib.integrations import connect
    from chalicelib.integrations.models import OAuthState

    state = location_query(start_response)["state"]
    return OAuthState.get(connect._hash(state), consistent_read=True)
