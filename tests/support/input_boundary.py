"""What the input-boundary tests (tests/functional/cross_cutting/input_boundary/) send and read: raw
requests through the test client, each service's documented error body, every table's items as moto
holds them, and the records the cases run against."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.conftest import TEST_SECRET_KEY
from tests.support.pizzly import basic

GITHUB_TOKEN = "gho_inputboundary0123456789"


def stored() -> dict[str, list[str]]:
    """Every item of every table, as moto holds it (read from its store, not with Scan requests)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from chalicelib.settings import get_settings

    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID][get_settings().region].tables
    return {
        name: sorted(
            json.dumps(item.to_json()["Attributes"], sort_keys=True, default=repr) for item in table.all_items()
        )
        for name, table in tables.items()
    }


# --- the services, each with its own error body ---------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: Any


def send(client: Any, method: str, path: str, headers: dict[str, str], body: str | None = None) -> Reply:
    data = body.encode() if body is not None else b""
    sent = {**headers, "Content-Type": "application/json"} if body is not None else headers
    response = client.http.request(method, path, headers=sent, body=data)
    return Reply(response.status_code, json.loads(response.body) if response.body else None)


def pizzly_error(reply: Reply, status: int = 400) -> str:
    """The message of an integrations/operators error body ``{"error": {"type", "message"}}``."""
    assert reply.status == status, reply
    assert set(reply.body) == {"error"} and set(reply.body["error"]) == {"type", "message"}, reply.body
    return str(reply.body["error"]["message"])


def broker_error(reply: Reply) -> list[dict[str, Any]]:
    """The items of the broker's FastAPI-shaped 422 ``{"detail": [{"type", "loc", "msg"}]}``."""
    assert reply.status == 422, reply
    assert set(reply.body) == {"detail"} and isinstance(reply.body["detail"], list), reply.body
    return list(reply.body["detail"])


def broker_message(reply: Reply, status: int) -> str:
    """The broker's other error body, ``{"detail": "..."}``."""
    assert reply.status == status, reply
    assert set(reply.body) == {"detail"} and isinstance(reply.body["detail"], str), reply.body
    return str(reply.body["detail"])


def giistr_error(reply: Reply, status: int = 400) -> str:
    """The repo tags error body ``{"status": "400 Bad Request", "message"}``."""
    assert reply.status == status, reply
    reason = {400: "Bad Request", 404: "Not Found"}[status]
    assert reply.body == {"status": f"{status} {reason}", "message": reply.body["message"]}, reply.body
    return str(reply.body["message"])


def autotune_error(reply: Reply, status: int = 400) -> str:
    """The publishing error body ``{"error": "message"}``."""
    assert reply.status == status, reply
    assert set(reply.body) == {"error"} and isinstance(reply.body["error"], str), reply.body
    return str(reply.body["error"])


def platform_error(reply: Reply, status: int = 400) -> str:
    """The entity store's error body ``{"success": false, "code", "message", "tags"}``."""
    assert reply.status == status, reply
    assert reply.body["success"] is False and reply.body["code"] == str(status), reply.body
    assert set(reply.body) == {"success", "code", "message", "tags"}, reply.body
    return str(reply.body["message"])


OPERATOR = {"Authorization": basic(TEST_SECRET_KEY)}


@dataclass
class World:
    """What the cases need: a customer of the broker, a publishing superuser, an entity-store user."""

    client: Any
    customer: dict[str, Any]
    configuration: dict[str, Any]
    autotune_key: str
    group: dict[str, Any]
    platform: dict[str, str]
    entity_id: str

    def autotune(self) -> dict[str, str]:
        return {"Authorization": f"API-KEY auth={self.autotune_key}", "Accept": "application/json"}

    def customer_key(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.customer['api_key']}"}

    def github(self) -> dict[str, str]:
        return {"X-Github-Token": GITHUB_TOKEN}
