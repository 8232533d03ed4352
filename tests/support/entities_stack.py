"""The entity store's tests: one moto AWS per module with its tables, an API driver, and recording peers.

The Lambda and API Gateway management clients are replaced (``aws.inject``) by recorders: a
:class:`RecordingLambda` keeps asynchronous invocations until the test runs them through the app's own
handlers, and :class:`RecordingManagement` keeps what was sent to each connection, answering 410 Gone
for the connections a test marks as gone, as API Gateway does.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import TEST_SECRET_KEY
from tests.support.moto_stack import create_tables, moto_aws, reread_settings

ADMIN = {"Authorization": "Basic " + base64.b64encode(f"{TEST_SECRET_KEY}:".encode()).decode()}
JSON = {"Content-Type": "application/json"}
PASSWORD = "correct-horse-battery"


def entity_models() -> list[Any]:
    from chalicelib.entities.models import Connection, Credential, Entity, LoginFailures, PlatformGroup, PlatformUser

    return [PlatformGroup, PlatformUser, Credential, LoginFailures, Entity, Connection]


@contextmanager
def entities_aws() -> Iterator[None]:
    """moto with the entity store's tables, for as long as the block runs."""
    reread_settings()
    with moto_aws(lambda: create_tables(entity_models(), key=False)):
        yield


def empty_entity_tables() -> None:
    """Delete every item of the entity store's tables (every one is keyed by its hash key alone)."""
    from chalicelib import aws

    dynamodb = aws.client("dynamodb")
    for model in entity_models():
        table = model.Meta.table_name
        key = model._hash_keyname
        for page in dynamodb.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression="#k", ExpressionAttributeNames={"#k": key}
        ):
            for item in page.get("Items", []):
                dynamodb.delete_item(TableName=table, Key={key: item[key]})


# --- recording peers ----------------------------------------------------------------------------------


@dataclass
class RecordingLambda:
    """Lambda's Invoke: asynchronous invocations are kept until :meth:`run` hands them to the app."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: bool = False

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        if self.fail:
            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Invoke")
        self.calls.append((FunctionName.rsplit("-", 1)[-1], json.loads(Payload)))
        return {"StatusCode": 202}

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def run(self) -> list[Any]:
        """Run every queued invocation through ``app.handler_map`` (and those they queue); their results."""
        from app import app

        results = []
        while self.calls:
            name, payload = self.calls.pop(0)
            results.append(app.handler_map[name](payload, None))
        return results


@dataclass
class RecordingManagement:
    """The API Gateway management API: frames sent per connection, deletions, and gone connections."""

    sent: dict[str, list[str]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)

    def _check(self, connection_id: str, operation: str) -> None:
        from botocore.exceptions import ClientError

        if connection_id in self.gone:
            raise ClientError({"Error": {"Code": "GoneException", "Message": "Gone"}}, operation)

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> dict[str, Any]:
        self._check(ConnectionId, "PostToConnection")
        self.sent.setdefault(ConnectionId, []).append(Data.decode("utf-8"))
        return {}

    def delete_connection(self, *, ConnectionId: str) -> dict[str, Any]:
        self._check(ConnectionId, "DeleteConnection")
        self.deleted.append(ConnectionId)
        self.gone.add(ConnectionId)
        return {}


# --- driving the API ---------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]
    text: str


class Platform:
    """The platform API through the Chalice test client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
        all_headers = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, str | bytes) else json.dumps(body)
            all_headers.setdefault("Content-Type", "application/json")
        response = getattr(self.client.http, method.lower())(path, headers=all_headers, body=data)
        raw = response.body.decode() if isinstance(response.body, bytes) else response.body
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return Reply(response.status_code, parsed, dict(response.headers), raw)

    def admin(self, method: str, path: str, body: Any = None) -> Reply:
        return self.call(method, path, body, ADMIN)

    def add_user(self, login: str, group: str, password: str = PASSWORD) -> dict[str, Any]:
        reply = self.admin("POST", "/admin/platform/users", {"login": login, "password": password, "group": group})
        assert reply.status == 201, reply.text
        user: dict[str, Any] = reply.body["user"]
        return user

    def sign_in(self, login: str, password: str = PASSWORD) -> dict[str, str]:
        """Headers carrying the session cookie of a new session."""
        reply = self.call("POST", "/api/v1/auth", {"login": login, "password": password})
        assert reply.status == 200, reply.text
        return {"Cookie": reply.headers["Set-Cookie"].split(";", 1)[0]}

    def token(self, login: str, password: str = PASSWORD) -> dict[str, str]:
        """Headers carrying a new access token."""
        reply = self.call("POST", "/api/v1/auth/token", {"login": login, "password": password})
        assert reply.status == 200, reply.text
        return {"Authorization": f"Bearer {reply.body['token']}"}


PLATFORM_401 = {"success": False, "code": "401", "message": "Unauthorized", "tags": ["error_unauthorized"]}
PLATFORM_403 = {
    "success": False,
    "code": "403",
    "message": "Forbidden",
    "tags": ["error_credentials", "error_forbidden"],
}
PLATFORM_404 = {"success": False, "code": "404", "message": "Not Found", "tags": ["error_not_found"]}
