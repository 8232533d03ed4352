"""Calling the integrations REST API (Pizzly's) through ``chalice.test.Client``, as its users do.

``PizzlyApi`` sends the secret key as HTTP Basic (username = key, empty password) unless told
otherwise, encodes JSON bodies, and decodes JSON answers; ``stored_*`` read DynamoDB directly.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from tests.conftest import TEST_SECRET_KEY
from tests.support.answers import JsonAnswer

ISO_MS_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def basic(username: str, password: str = "") -> str:
    """An HTTP Basic ``Authorization`` header value."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class Answer(JsonAnswer):
    """An answer of the integrations API."""

    def error(self) -> tuple[str, str]:
        """(type, message) of a Pizzly error body, checking the body has exactly that shape."""
        assert isinstance(self.body, dict) and set(self.body) == {"error"}, self.body
        assert set(self.body["error"]) == {"type", "message"}, self.body
        assert isinstance(self.body["error"]["message"], str) and self.body["error"]["message"]
        return self.body["error"]["type"], self.body["error"]["message"]


class PizzlyApi:
    """The integrations API as a secret-key holder calls it."""

    def __init__(self, client: Any, secret_key: str | None = TEST_SECRET_KEY) -> None:
        self.client = client
        self.secret_key = secret_key

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> Answer:
        sent: dict[str, str] = {}
        if auth and self.secret_key is not None:
            sent["Authorization"] = basic(self.secret_key)
        data: bytes = b""
        if raw is not None:
            data = raw.encode() if isinstance(raw, str) else raw
        elif body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        response = self.client.http.request(method, path, headers=sent, body=data)
        content = response.body or b""
        try:
            decoded = json.loads(content) if content else None
        except ValueError:
            decoded = None
        return Answer(response.status_code, dict(response.headers), decoded, content)

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return self.request("PUT", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Answer:
        return self.request("DELETE", path, **kwargs)

    # -- shortcuts for the objects most tests need ---------------------------------------------

    def configuration(
        self,
        integration: str = "github",
        client_id: str = "client-id-0123456789",
        secret: str = "client-secret-abcdefghij",
        scopes: list[str] | None = None,
    ) -> dict[str, Any]:
        """Register a configuration (OAuth 2 credentials); its view."""
        body: dict[str, Any] = {"credentials": {"clientId": client_id, "clientSecret": secret}}
        if scopes is not None:
            body["scopes"] = scopes
        answer = self.post(f"/api/{integration}/configurations", body)
        assert answer.status == 201, answer.body
        view: dict[str, Any] = answer.body["configuration"]
        return view

    def authentication(self, integration: str, setup_id: str, payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """Import an authentication; its view."""
        answer = self.post(f"/api/{integration}/authentications", {"setup_id": setup_id, "payload": payload, **extra})
        assert answer.status == 201, answer.body
        view: dict[str, Any] = answer.body["authentication"]
        return view


def stored_configuration(setup_id: str) -> Any:
    """The configuration item as DynamoDB holds it."""
    from chalicelib.oauth.models import Configuration

    return Configuration.get(setup_id, consistent_read=True)


def stored_authentication(auth_id: str) -> Any:
    """The authentication item as DynamoDB holds it."""
    from chalicelib.integrations.models import Authentication

    return Authentication.get(auth_id, consistent_read=True)


def raw_item(table_suffix: str, key: str) -> dict[str, Any]:
    """The item exactly as DynamoDB returns it (attribute values with their type tags)."""
    from chalicelib import aws
    from chalicelib.settings import get_settings

    response = aws.client("dynamodb").get_item(
        TableName=get_settings().table_name(table_suffix), Key={"id": {"S": key}}, ConsistentRead=True
    )
    item: dict[str, Any] = response.get("Item", {})
    return item


def custom_integration(token_url: str, **auth: Any) -> dict[str, Any]:
    """A minimal valid OAuth 2 integration definition whose token endpoint is ``token_url``."""
    base = token_url.rsplit("/", 1)[0]
    return {
        "name": "Local provider",
        "auth": {
            "authType": "OAUTH2",
            "authorizationURL": f"{base}/authorize",
            "tokenURL": token_url,
            **auth,
        },
        "request": {"baseURL": f"{base}/api/", "headers": {"Authorization": "Bearer ${auth.accessToken}"}},
    }
