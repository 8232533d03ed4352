"""Fixtures of the publishing tests: one moto AWS per module (its tables and bucket), emptied per test,
a fake Lambda client that runs the build worker synchronously, blueprint repositories made with dulwich,
and a small client for the API.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.support.moto_stack import create_tables, moto_aws, reread_settings

BLUEPRINT_FILES = {
    "autotune-config.json": json.dumps({"title": "Quiz", "type": "graphic", "embed_height": 420}),
    "index.html.j2": (
        "{% extends '_layouts/base.html' %}{% block body %}"
        "<h1>{{ title }}</h1><p class='headline'>{{ headline }}</p>"
        "<p class='color'>{{ theme_data.color }}</p><p class='type'>{{ build_type }}</p>"
        "<a href='{{ base_url }}'>{{ slug }}</a><p class='group'>{{ group }}/{{ theme }}</p>"
        "{% include '_partials/footer.html' %}{% endblock %}"
    ),
    "_layouts/base.html": "<html><body>{% block body %}{% endblock %}</body></html>",
    "_partials/footer.html": "<footer>{{ autotune.title }}</footer>",
    "style.css": "h1 { color: red; }",
    ".gitignore": "node_modules\n",
}


def publishing_models() -> list[Any]:
    from chalicelib.publishing import models

    return [
        models.Counter,
        models.Claim,
        models.User,
        models.Group,
        models.Membership,
        models.Theme,
        models.Blueprint,
        models.Project,
    ]


@pytest.fixture(scope="module")
def publishing_aws() -> Iterator[None]:
    """moto with the publishing tables, the KMS key and the publish bucket, shared by one module's tests."""
    from chalicelib import aws
    from chalicelib.settings import clear_settings
    from infra.local.bootstrap import create_buckets

    def create() -> None:
        create_tables(publishing_models())
        create_buckets()

    os.environ["ALLOW_LOCAL_REPOS"] = "1"
    reread_settings()  # here, outside any request (the test client patches in the dev stage's variables)
    try:
        with moto_aws(create):
            yield
    finally:
        os.environ.pop("ALLOW_LOCAL_REPOS", None)
        clear_settings()
        aws.reset()


def empty_publishing() -> None:
    """Delete every publishing item and every published file."""
    from chalicelib import aws
    from chalicelib.settings import get_settings

    for model in publishing_models():
        with model.batch_write() as batch:
            for item in model.scan():
                batch.delete(item)
    s3 = aws.client("s3")
    bucket = get_settings().publish_bucket
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    if keys:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})


class FakeLambda:
    """The Lambda client: records each asynchronous invocation and, unless ``hold``, runs the worker at once."""

    def __init__(self) -> None:
        self.hold = False
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.held: list[dict[str, Any]] = []

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        event = json.loads(Payload)
        self.calls.append((FunctionName, event))
        assert InvocationType == "Event"
        if self.hold:
            self.held.append(event)
        else:
            run_worker(event)
        return {"StatusCode": 202}

    def release(self) -> None:
        """Run the held invocations."""
        held, self.held = self.held, []
        for event in held:
            run_worker(event)


def run_worker(event: dict[str, Any]) -> dict[str, Any]:
    """Call the build worker the way Lambda calls it: the function on the publishing blueprint."""
    from chalicelib.publishing.routes import build_worker

    result: dict[str, Any] = build_worker(event, None)
    return result


@pytest.fixture
def fake_lambda() -> FakeLambda:
    return FakeLambda()


@pytest.fixture
def aws_env(publishing_aws: None, fake_lambda: FakeLambda) -> Iterator[None]:
    """Overrides the root fixture: the module's moto, emptied, with the fake Lambda client."""
    from chalicelib import aws

    empty_publishing()
    aws.inject("lambda", fake_lambda)
    yield
    aws._injected.pop("lambda", None)


def make_repo(path: Path, files: dict[str, str], message: str = "blueprint") -> str:
    """A git repository at ``path`` holding ``files`` (added to what is there); the new commit id."""
    from dulwich import porcelain

    if not (path / ".git").exists():
        path.mkdir(parents=True, exist_ok=True)
        porcelain.init(str(path))
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    porcelain.add(str(path), paths=[str(path / name) for name in files])
    commit = porcelain.commit(
        str(path), message=message.encode(), author=b"T <t@example.com>", committer=b"T <t@example.com>"
    )
    return commit.decode()


@pytest.fixture
def blueprint_repo(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "quiz-blueprint"
    return path, make_repo(path, BLUEPRINT_FILES)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class Api:
    """Requests to the app with a user's key, or the operator's secret key."""

    client: Any
    keys: dict[str, str] = field(default_factory=dict)

    def call(
        self,
        method: str,
        path: str,
        key: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        all_headers = {"Accept": "application/json"}
        if key is not None:
            all_headers["Authorization"] = f"API-KEY auth={self.keys.get(key, key)}"
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        response = self.client.http.request(method, path, headers=all_headers, body=data)
        text = response.body.decode() if response.body else ""
        return Reply(response.status_code, dict(response.headers), json.loads(text) if text else None)

    def admin(self, method: str, path: str, body: Any = None) -> Reply:
        basic = base64.b64encode(f"{TEST_SECRET_KEY}:".encode()).decode()
        return self.call(method, path, body=body, headers={"Authorization": f"Basic {basic}"})

    def user(self, name: str, *, superuser: bool = False, groups: dict[str, str] | None = None) -> int:
        """Create a user known here as ``name`` (their key is ``self.keys[name]``), with roles in groups."""
        reply = self.admin(
            "POST",
            "/admin/autotune/users",
            {"email": f"{name}@example.com", "name": name.title(), "superuser": superuser},
        )
        assert reply.status == 201, reply
        self.keys[name] = reply.body["api_key"]
        for group, role in (groups or {}).items():
            set_role = self.admin("PUT", f"/admin/autotune/groups/{group}/members/{reply.body['id']}", {"role": role})
            assert set_role.status in (200, 201), set_role
        return int(reply.body["id"])

    def group(self, name: str) -> str:
        reply = self.admin("POST", "/admin/autotune/groups", {"name": name})
        assert reply.status == 201, reply
        return str(reply.body["slug"])

    def ok(self, method: str, path: str, key: str, body: Any = None, status: int = 200) -> Any:
        reply = self.call(method, path, key, body)
        assert reply.status == status, (method, path, reply)
        return reply.body


@pytest.fixture
def api(client: Any) -> Api:
    return Api(client)


def published_file(key: str) -> tuple[str, str]:
    """The text and content type of a file in the publish bucket."""
    from chalicelib import aws
    from chalicelib.settings import get_settings

    found = aws.client("s3").get_object(Bucket=get_settings().publish_bucket, Key=key)
    return found["Body"].read().decode(), found["ContentType"]


def bucket_keys(prefix: str = "") -> list[str]:
    from chalicelib import aws
    from chalicelib.settings import get_settings

    listed = aws.client("s3").list_objects_v2(Bucket=get_settings().publish_bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


@pytest.fixture
def newsroom(api: Api, blueprint_repo: tuple[Path, str]) -> dict[str, Any]:
    """A group 'vox' with a designer and an author, a superuser, a theme 'vox' and a ready blueprint 'quiz'."""
    path, commit = blueprint_repo
    group = api.group("Vox")
    api.user("root", superuser=True)
    api.user("dana", groups={group: "designer"})
    api.user("ann", groups={group: "author"})
    theme = api.ok("POST", "/themes", "root", {"title": "Vox", "group": group, "data": {"color": "#fc0"}}, 201)
    blueprint = api.ok("POST", "/blueprints", "root", {"title": "Quiz", "repo_url": str(path)}, 201)
    return {"group": group, "theme": theme, "blueprint": blueprint, "repo": path, "commit": commit}
