"""Blueprint repository addresses never carry credentials: refused on create and update, never shown."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.publishing.conftest import Api

TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"

WITH_CREDENTIALS = [
    f"https://x-access-token:{TOKEN}@github.com/org/repo.git",
    f"https://{TOKEN}@github.com/org/repo.git",
    f"https://user:{TOKEN}@gitlab.example.com/org/repo.git",
    f"https://github.com/org/repo.git?access_token={TOKEN}",
    f"https://gitlab.example.com/org/repo.git?private_token={TOKEN}",
    f"https://github.com/org/repo.git#{TOKEN}",
    f"{TOKEN}@github.com:org/repo.git",
    f"ssh://git:{TOKEN}@github.com/org/repo.git",
]


def _blueprint_items() -> list[Any]:
    from chalicelib.publishing.models import Blueprint

    return list(Blueprint.scan())


@pytest.mark.parametrize("repo_url", WITH_CREDENTIALS)
def test_a_blueprint_url_with_credentials_is_refused_at_create_and_nothing_is_stored(
    api: Api, newsroom: dict[str, Any], repo_url: str
) -> None:
    before = [item.repo_url for item in _blueprint_items()]

    reply = api.call("POST", "/blueprints", "root", {"title": "Secret", "repo_url": repo_url})

    assert reply.status == 400
    assert set(reply.body) == {"error"}
    assert "must not contain credentials" in reply.body["error"]
    assert TOKEN not in reply.body["error"]
    assert [item.repo_url for item in _blueprint_items()] == before
    listed = api.call("GET", "/blueprints", "ann")
    assert TOKEN not in str(listed.body)


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("repo_url", WITH_CREDENTIALS[:2] + WITH_CREDENTIALS[3:4])
def test_a_blueprint_url_with_credentials_is_refused_at_update_and_the_stored_one_is_kept(
    api: Api, newsroom: dict[str, Any], method: str, repo_url: str
) -> None:
    blueprint = newsroom["blueprint"]

    reply = api.call(method, f"/blueprints/{blueprint['id']}", "root", {"repo_url": repo_url, "title": "Renamed"})

    assert reply.status == 400
    assert "must not contain credentials" in reply.body["error"]
    shown = api.ok("GET", f"/blueprints/{blueprint['id']}", "ann")
    assert shown["repo_url"] == blueprint["repo_url"] == str(newsroom["repo"])
    assert shown["title"] == "Quiz"  # nothing of the refused update was applied
    assert [item.repo_url for item in _blueprint_items()] == [str(newsroom["repo"])]


def test_blueprints_without_credentials_are_created_updated_and_shown_as_before(
    api: Api, newsroom: dict[str, Any]
) -> None:
    ssh = api.ok("POST", "/blueprints", "root", {"title": "Ssh", "repo_url": "git@github.com:org/ssh.git"}, 201)
    https = api.ok("POST", "/blueprints", "root", {"title": "Web", "repo_url": "https://github.com/org/web.git"}, 201)
    moved = api.ok("PATCH", f"/blueprints/{https['id']}", "root", {"repo_url": "https://gitlab.com/org/web.git"})

    assert ssh["repo_url"] == "git@github.com:org/ssh.git"
    assert moved["repo_url"] == "https://gitlab.com/org/web.git"
    listed = {b["title"]: b["repo_url"] for b in api.ok("GET", "/blueprints", "root")}
    assert listed == {
        "Quiz": str(newsroom["repo"]),
        "Ssh": "git@github.com:org/ssh.git",
        "Web": "https://gitlab.com/org/web.git",
    }


def test_credentials_stored_before_they_were_refused_are_never_shown(api: Api, newsroom: dict[str, Any]) -> None:
    from chalicelib.publishing.models import Blueprint

    blueprint = newsroom["blueprint"]
    item = Blueprint.get(blueprint["id"])
    item.update(actions=[Blueprint.repo_url.set(f"https://x-access-token:{TOKEN}@github.com/org/quiz.git?x=1")])

    one = api.ok("GET", f"/blueprints/{blueprint['id']}", "ann")
    listed = api.ok("GET", "/blueprints", "ann")

    assert one["repo_url"] == "https://github.com/org/quiz.git"
    assert TOKEN not in str(listed)
