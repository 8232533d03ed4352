"""docs/publishing.md's walk-through against `make run`'s stack: the build runs in the gateway's Lambda."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import requests

from tests.e2e.conftest import RunningStack


def _repo(path: Path) -> None:
    from dulwich import porcelain

    path.mkdir()
    porcelain.init(str(path))
    files = {
        "autotune-config.json": json.dumps({"type": "graphic"}),
        "index.html.j2": "<h1>{{ title }}</h1><p>{{ question }}</p><i>{{ theme_data.color }}</i>",
    }
    for name, text in files.items():
        (path / name).write_text(text)
    porcelain.add(str(path), paths=[str(path / name) for name in files])
    porcelain.commit(str(path), message=b"quiz", author=b"T <t@example.com>", committer=b"T <t@example.com>")


def _until(get: Any, done: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_a_project_is_built_in_the_background_and_served_from_the_bucket(stack: RunningStack, tmp_path: Path) -> None:
    _repo(tmp_path / "quiz")
    url = stack.url
    created = requests.post(
        f"{url}/admin/autotune/users",
        auth=stack.auth,
        json={"email": "e2e-bot@example.com", "superuser": True},
        timeout=10,
    )
    assert created.status_code == 201
    headers = {"Accept": "application/json", "Authorization": f'API-KEY auth="{created.json()["api_key"]}"'}
    group = requests.post(f"{url}/admin/autotune/groups", auth=stack.auth, json={"name": "E2E"}, timeout=10).json()
    theme = requests.post(
        f"{url}/themes",
        headers=headers,
        json={"title": "E2E", "group": group["slug"], "data": {"color": "teal"}},
        timeout=10,
    )
    assert theme.status_code == 201, theme.text
    blueprint = requests.post(
        f"{url}/blueprints", headers=headers, json={"title": "E2E quiz", "repo_url": str(tmp_path / "quiz")}, timeout=10
    )
    assert blueprint.status_code == 201, blueprint.text
    ready = _until(
        lambda: requests.get(f"{url}/blueprints/{blueprint.json()['id']}", headers=headers, timeout=10).json(),
        lambda b: b["status"] != "updating",
    )
    assert ready["status"] == "ready", ready

    body = {"title": "Who won", "blueprint": ready["slug"], "theme": theme.json()["slug"], "data": {"question": "Q?"}}
    project = requests.post(f"{url}/projects", headers=headers, json=body, timeout=10)
    assert project.status_code == 201, project.text
    built = _until(
        lambda: requests.get(f"{url}/projects/{project.json()['id']}", headers=headers, timeout=10).json(),
        lambda p: p["status"] not in ("building", "updating"),
    )
    assert built["status"] == "built", built
    page = requests.get(built["preview_url"] + "index.html", timeout=10)
    assert page.status_code == 200
    assert page.text == "<h1>Who won</h1><p>Q?</p><i>teal</i>"
