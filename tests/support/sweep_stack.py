"""The refresh sweep's tests: one module's moto, a real OAuth 2 provider, and authentications made through
the connect flow (tests/functional/jobs/).

The provider's access-token lifetime at connection time decides whether an authentication is due: with
the default 15-minute buffer and 10-minute window, a token expiring within 25 minutes is due; one
expiring in two hours is not.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.support.oauth2_provider import OAuth2Provider

CALLBACK = "https://localhost/auth/callback"
CLIENT_ID, CLIENT_SECRET = "keyport-client", "keyport-client-secret-0001"
DUE_LIFETIME, LATER_LIFETIME, REFRESHED_LIFETIME = 600, 7200, 3600
PLENTY: Callable[[], int] = lambda: 900_000  # noqa: E731  (a Lambda with 15 minutes left)


def pin_settings() -> None:
    """Re-read the settings now, outside any request: the Chalice test client runs each request with the
    'dev' stage's environment variables, and settings first read there would name the dev tables and key."""
    from chalicelib.settings import clear_settings, get_settings

    clear_settings()
    get_settings()


def api(client: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Call the secret-key REST API; (status, parsed JSON)."""
    token = base64.b64encode(f"{os.environ['SECRET_KEY']}:".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    response = client.http.request(method, path, headers=headers, body=json.dumps(body).encode() if body else b"")
    return response.status_code, json.loads(response.body) if response.body else None


def register_acme(client: Any, provider: OAuth2Provider) -> Callable[[int], str]:
    """Registers 'acme' on the provider; returns a function connecting one authentication whose access
    token lives ``lifetime`` seconds."""
    status, _ = api(client, "PUT", "/api/acme", provider.definition("Acme"))
    assert status == 201
    credentials = {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}
    status, _ = api(client, "POST", "/api/acme/configurations", {"credentials": credentials})
    assert status == 201

    def connect(lifetime: int) -> str:
        provider.access_token_lifetime = lifetime
        started = client.http.get("/auth/acme")
        authorized = requests.get(started.headers["Location"], allow_redirects=False, timeout=5)
        back = urlsplit(authorized.headers["Location"])
        page = client.http.get(f"{back.path}?{back.query}")
        assert page.status_code == 200, page.body
        provider.access_token_lifetime = REFRESHED_LIFETIME
        message = json.loads(page.body.split(b"var message = ")[1].split(b"; var origins")[0])
        auth_id: str = message["data"]["authId"]
        return auth_id

    return connect


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
