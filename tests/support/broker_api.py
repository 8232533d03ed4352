"""Calling the credential broker through ``chalice.test.Client``, as operators, customers and instances do.

``BrokerApi`` records every answer it got (``answers``), so a test can check that no response of the
customer API carried a credential.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tests.conftest import TEST_SECRET_KEY
from tests.support.answers import JsonAnswer

ISO_MS_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CONNECTION_FIELDS = {
    "auth_type",
    "created_at",
    "customer_id",
    "error_message",
    "expires_at",
    "grants",
    "id",
    "last_used_at",
    "name",
    "provider",
    "scopes",
    "status",
    "updated_at",
}
GRANT_FIELDS = {"capabilities", "connection_id", "granted_at", "id", "instance_id"}


class Answer(JsonAnswer):
    """An answer of the broker, or of the operators' routes."""

    def detail(self) -> Any:
        """The ``detail`` of a broker error body, checking the body has exactly that shape."""
        assert isinstance(self.body, dict) and set(self.body) == {"detail"}, self.body
        return self.body["detail"]

    def error(self) -> tuple[str, str]:
        """(type, message) of an operator error body, checking its shape."""
        assert isinstance(self.body, dict) and set(self.body) == {"error"}, self.body
        assert set(self.body["error"]) == {"type", "message"}, self.body
        return self.body["error"]["type"], self.body["error"]["message"]


@dataclass
class BrokerApi:
    """The broker's three audiences over one test client."""

    client: Any
    answers: list[tuple[str, Answer]] = field(default_factory=list)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Answer:
        all_headers = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        response = self.client.http.request(method, path, headers=all_headers, body=data or b"")
        raw_answer = response.body if isinstance(response.body, bytes) else str(response.body).encode()
        decoded = json.loads(raw_answer) if raw_answer else None
        answer = Answer(response.status_code, dict(response.headers), decoded, raw_answer)
        self.answers.append((path, answer))
        return answer

    # -- audiences -------------------------------------------------------------------------------

    def admin(self, method: str, path: str, body: Any = None, *, secret_key: str = TEST_SECRET_KEY) -> Answer:
        token = base64.b64encode(f"{secret_key}:".encode()).decode()
        return self.request(method, "/admin" + path, body, headers={"Authorization": f"Basic {token}"})

    def customer(
        self,
        key: str | None,
        method: str,
        path: str,
        body: Any = None,
        *,
        header: str = "bearer",
        raw: bytes | None = None,
    ) -> Answer:
        headers: dict[str, str] = {}
        if key is not None:
            headers = {"Authorization": f"Bearer {key}"} if header == "bearer" else {"X-Api-Key": key}
        if raw is not None:
            headers["Content-Type"] = "application/json"
        return self.request(method, "/v1/customers" + path, body, headers=headers, raw=raw)

    def fetch(self, instance_id: str, proxy_key: str | None, **params: str) -> Answer:
        headers = {"Authorization": f"Bearer {proxy_key}"} if proxy_key is not None else {}
        query = f"?{urlencode(params)}" if params else ""
        return self.request("GET", f"/internal/v1/instances/{instance_id}/connections{query}", headers=headers)

    # -- setting up ------------------------------------------------------------------------------

    def new_customer(self, name: str = "Acme Pty Ltd") -> dict[str, Any]:
        answer = self.admin("POST", "/customers", {"name": name})
        assert answer.status == 201, answer.body
        return dict(answer.body)

    def new_instance(self, customer_id: str, name: str = "mail agent") -> dict[str, Any]:
        answer = self.admin("POST", f"/customers/{customer_id}/instances", {"name": name})
        assert answer.status == 201, answer.body
        return dict(answer.body)

    def new_connection(self, customer: dict[str, Any], **body: Any) -> dict[str, Any]:
        payload = {"name": "admin@example.com", "provider": "deputy", "auth_type": "api_key"}
        payload.update(body)
        payload.setdefault("credentials", {"api_key": "dk_live_0123456789abcdef"})
        answer = self.customer(customer["api_key"], "POST", f"/{customer['id']}/connections", payload)
        assert answer.status == 201, answer.body
        return dict(answer.body)

    def grant(self, customer: dict[str, Any], connection_id: str, instance_id: str, capabilities: list[str]) -> Answer:
        return self.customer(
            customer["api_key"],
            "POST",
            f"/{customer['id']}/connections/{connection_id}/grants",
            {"capabilities": capabilities, "instance_id": instance_id},
        )

    def connections(self, customer: dict[str, Any]) -> list[dict[str, Any]]:
        answer = self.customer(customer["api_key"], "GET", f"/{customer['id']}/connections")
        assert answer.status == 200, answer.body
        return list(answer.body["connections"])

    def connection(self, customer: dict[str, Any], connection_id: str) -> dict[str, Any]:
        found = [c for c in self.connections(customer) if c["id"] == connection_id]
        assert len(found) == 1, found
        return found[0]

    def audit(self, customer: dict[str, Any], connection_id: str, **params: str) -> Answer:
        query = f"?{urlencode(params)}" if params else ""
        return self.customer(customer["api_key"], "GET", f"/{customer['id']}/connections/{connection_id}/audit{query}")


def custom_integration(token_url: str, **auth: Any) -> dict[str, Any]:
    """An OAuth 2 integration definition whose token endpoint is ``token_url`` (a local test server)."""
    base = token_url.rsplit("/", 1)[0]
    return {
        "name": "Local test provider",
        "auth": {"authType": "OAUTH2", "authorizationURL": f"{base}/authorize", "tokenURL": token_url, **auth},
        "request": {"baseURL": f"{base}/api/"},
    }
