"""Helpers of the repo tags tests: calling the API as a user or the operator, and reading what is stored."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.support.github_server import GithubStandIn, github_stand_in
from tests.support.moto_stack import create_tables, moto_aws, reread_settings

REPOTAGS_TABLES = ("users", "tokens", "claims", "tags", "repos", "assocs")


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


class RepoTagsApi:
    """The repo tags routes through the Chalice test client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        secret_key: str | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if token is not None:
            sent["X-Github-Token"] = token
        if secret_key is not None:
            sent["Authorization"] = "Basic " + base64.b64encode(f"{secret_key}:".encode()).decode()
        data = b""
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        response = self.client.http.request(method, path, headers=sent, body=data)
        parsed = json.loads(response.body) if response.body else None
        return Answer(response.status_code, parsed, {k.lower(): v for k, v in response.headers.items()})

    def ok(self, method: str, path: str, token: str, body: Any = None) -> Any:
        """Call as the user of ``token`` and expect 200; the parsed body."""
        answer = self.call(method, path, token=token, body=body)
        assert answer.status == 200, (method, path, answer.status, answer.body)
        return answer.body

    def operator(self, method: str, path: str) -> Answer:
        return self.call(method, path, secret_key=TEST_SECRET_KEY)


def use_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """Change settings now, and read them at once.

    The Chalice test client sets the stage's environment (``.chalice/config.json``) during each request,
    so settings first read inside a request would be the dev stage's rather than the tests'.
    """
    from chalicelib.settings import clear_settings, get_settings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    clear_settings()
    get_settings()


@contextmanager
def github_api(monkeypatch: pytest.MonkeyPatch, **env: str) -> Iterator[GithubStandIn]:
    """A GitHub stand-in that the app's settings point at (with extra settings from ``env``)."""
    with github_stand_in() as stand_in:
        use_settings(monkeypatch, GITHUB_API_URL=stand_in.url, **env)
        yield stand_in


@contextmanager
def repotags_aws() -> Iterator[None]:
    """moto with the repo tags tables and the KMS key, for a whole test module.

    Creating every Keyport table for every test costs seconds (one botocore client per table); the
    repo tags tests need six tables, made once per module and emptied before each test by
    :func:`empty_tables`.
    """
    from chalicelib.repotags.models import Assoc, Claim, Repo, Tag, Token, User

    reread_settings()
    with moto_aws(lambda: create_tables([User, Token, Claim, Tag, Repo, Assoc])):
        yield


@contextmanager
def atomic_dynamodb_requests() -> Iterator[None]:
    """Make moto handle one DynamoDB request at a time, as DynamoDB isolates each request.

    moto serves threads concurrently but does not isolate its transactions: a cancelled one restores
    a copy of whole tables taken when it began, undoing what other threads wrote meanwhile. Races in
    Keyport's own code (read, decide, write) still happen between requests.
    """
    import threading

    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DynamoHandler, "call_action", call_action)
        yield


def empty_tables() -> None:
    """Delete every item of the repo tags tables."""
    from chalicelib.repotags.models import Assoc, Claim, Repo, Tag, Token, User

    keys = {"users": (User, "id"), "tokens": (Token, "token_hash"), "claims": (Claim, "key")}
    keys.update({"tags": (Tag, "id"), "repos": (Repo, "id"), "assocs": (Assoc, "id")})
    for aggregate, (model, key) in keys.items():
        items = stored_items(aggregate)
        with model.batch_write() as batch:
            for item in items:
                (raw,) = item[key].values()
                batch.delete(model(raw))


@contextmanager
def chalice_client() -> Iterator[Any]:
    """The Chalice test client over the Keyport app."""
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        yield client


def stored_items(aggregate: str) -> list[dict[str, Any]]:
    """Every item of a repotags table, as moto holds it (read from its store: no Scan request)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from chalicelib.settings import get_settings

    settings = get_settings()
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][settings.region].tables[settings.table_name(f"repotags-{aggregate}")]
    return [item.to_json()["Attributes"] for item in table.all_items()]


def stored_bytes() -> bytes:
    """Everything the repotags tables hold, binary attributes decoded, as one byte string."""
    chunks: list[bytes] = []
    for aggregate in REPOTAGS_TABLES:
        for item in stored_items(aggregate):
            for name, value in item.items():
                chunks.append(name.encode())
                (kind, raw), *_ = value.items()
                if kind == "B":
                    chunks.append(raw if isinstance(raw, bytes) else base64.b64decode(raw))
                else:
                    chunks.append(json.dumps(raw).encode())
    return b"\n".join(chunks)


def count(aggregate: str) -> int:
    return len(stored_items(aggregate))


@contextmanager
def dynamodb_operations() -> Iterator[list[str]]:
    """The DynamoDB operations the repotags models send while the block runs."""
    from chalicelib.repotags.models import Assoc, Claim, Repo, Tag, Token, User

    seen: list[str] = []

    def record(model: Any, **_: Any) -> None:
        seen.append(model.name)

    clients: list[Any] = []  # each once: the models may share one botocore client
    for model in (User, Token, Claim, Tag, Repo, Assoc):
        client = model._get_connection().connection.client
        if all(client is not known for known in clients):
            clients.append(client)
    for client in clients:
        client.meta.events.register("before-call.dynamodb", record)
    try:
        yield seen
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.dynamodb", record)
