"""The secret-key REST API and the connect flow, driven through the Chalice test client and a provider
on a local port (tests/support/oauth1_provider.py, oauth2_provider.py)."""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

CALLBACK = "https://localhost/auth/callback"
CLIENT_ID, CLIENT_SECRET = "keyport-client", "keyport-client-secret-0001"


def secret_key_header() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{os.environ['SECRET_KEY']}:".encode()).decode()}


def call(client: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Call the secret-key REST API; (status, parsed JSON)."""
    headers = {**secret_key_header(), "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else b""
    response = client.http.request(method, path, headers=headers, body=data)
    return response.status_code, json.loads(response.body) if response.body else None


def register(
    client: Any,
    integration: str,
    definition: dict[str, Any],
    credentials: dict[str, str],
    scopes: list[str] | None = None,
) -> str:
    """PUT the integration and POST a configuration with ``credentials`` (and ``scopes``, if given); the setup id."""
    status, body = call(client, "PUT", f"/api/{integration}", definition)
    assert status in (200, 201), body
    configuration: dict[str, Any] = {"credentials": credentials}
    if scopes is not None:
        configuration["scopes"] = scopes
    status, body = call(client, "POST", f"/api/{integration}/configurations", configuration)
    assert status == 201, body
    setup_id: str = body["configuration"]["id"]
    return setup_id


def callback_message(page: Any) -> dict[str, Any]:
    """The message the callback page posts to window.opener."""
    found = re.search(rb"var message = (\{.*?\}); var origins", page.body)
    assert found, page.body
    posted: dict[str, Any] = json.loads(found.group(1))
    return posted


def start(client: Any, integration: str, **query: str) -> Any:
    """Keyport's answer to ``/auth/{integration}``."""
    return client.http.get(f"/auth/{integration}?{urlencode(query)}" if query else f"/auth/{integration}")


def connect(client: Any, integration: str, **query: str) -> str:
    """Run the connect flow through Keyport and the provider; the new authId."""
    started = start(client, integration, **query)
    assert started.status_code == 302, started.body.split(b"<p>")[1][:300]
    authorized = requests.get(started.headers["Location"], allow_redirects=False, timeout=5)
    back = urlsplit(authorized.headers["Location"])
    page = client.http.get(f"{back.path}?{back.query}")
    assert page.status_code == 200, page.body
    auth_id: str = callback_message(page)["data"]["authId"]
    return auth_id
