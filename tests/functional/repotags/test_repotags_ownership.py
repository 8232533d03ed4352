"""Every object belongs to its user: another user's tag, repo or association answers as a missing one."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.github_server import GithubStandIn
from tests.support.repotags_api import (
    RepoTagsApi,
    stored_items,
)

ALICE = "ghp_aliceOwnsThings00000000000000000000001"
BOB = "ghp_bobTriesEverything000000000000000000002"
TABLES = ("users", "tokens", "claims", "tags", "repos", "assocs")


@pytest.fixture
def api(api: RepoTagsApi, github: GithubStandIn) -> RepoTagsApi:
    github.accept(ALICE, 1)
    github.accept(BOB, 2)
    return api


@pytest.fixture
def alice(api: RepoTagsApi) -> dict[str, Any]:
    """Alice's user, tag, repo and association (and Bob signed in, with nothing yet)."""
    (user,) = api.ok("GET", "/api/v1/users", ALICE)
    api.ok("GET", "/api/v1/users", BOB)
    tag = api.ok("POST", "/api/v1/tag", ALICE, {"name": "rust"})
    repo = api.ok("POST", "/api/v1/repo", ALICE, {"github_repo_id": "1296269"})
    assoc = api.ok("POST", f"/api/v1/tag/{tag['id']}/repo/{repo['id']}", ALICE)["assoc"]
    return {"user": user, "tag": tag, "repo": repo, "assoc": assoc}


def _snapshot() -> dict[str, list[dict[str, Any]]]:
    return {table: sorted(stored_items(table), key=repr) for table in TABLES}


def _as_missing(api: RepoTagsApi, method: str, path: str, body: Any, real_id: str) -> None:
    """Bob's call on Alice's object answers exactly as the same call on an id that exists nowhere."""
    fake_id = str(uuid.uuid4())
    theirs = api.call(method, path, token=BOB, body=body)
    fake_body = None if body is None else {k: (fake_id if v == real_id else v) for k, v in body.items()}
    missing = api.call(method, path.replace(real_id, fake_id), token=BOB, body=fake_body)
    assert theirs.status == missing.status == 404, (method, path, theirs.body)
    assert theirs.body["status"] == "404 Not Found"
    assert theirs.body["message"].replace(real_id, "?") == missing.body["message"].replace(fake_id, "?")


def test_every_route_answers_another_users_object_as_missing_and_changes_nothing(
    api: RepoTagsApi, alice: dict[str, Any]
) -> None:
    user, tag, repo, assoc = alice["user"], alice["tag"], alice["repo"], alice["assoc"]
    before = _snapshot()

    _as_missing(api, "GET", f"/api/v1/user/{user['id']}", None, user["id"])
    _as_missing(api, "GET", f"/api/v1/tag/{tag['id']}", None, tag["id"])
    _as_missing(api, "PUT", "/api/v1/tag", {"id": tag["id"], "name": "mine now"}, tag["id"])
    _as_missing(api, "PUT", "/api/v1/tag", {"id": tag["id"]}, tag["id"])
    _as_missing(api, "DELETE", f"/api/v1/tag/{tag['id']}", None, tag["id"])
    _as_missing(api, "GET", f"/api/v1/repo/{repo['id']}", None, repo["id"])
    _as_missing(api, "PUT", "/api/v1/repo", {"id": repo["id"], "github_repo_id": "9"}, repo["id"])
    _as_missing(api, "PUT", "/api/v1/repo", {"id": repo["id"]}, repo["id"])
    _as_missing(api, "DELETE", f"/api/v1/repo/{repo['id']}", None, repo["id"])
    _as_missing(api, "POST", f"/api/v1/tag/{tag['id']}/repo/{repo['id']}", None, tag["id"])
    _as_missing(api, "DELETE", f"/api/v1/repo-tag-assoc/{assoc['id']}", None, assoc["id"])
    _as_missing(api, "GET", f"/api/v1/tags/repo/{repo['id']}", None, repo["id"])
    _as_missing(api, "GET", f"/api/v1/repos/tag/{tag['id']}", None, tag["id"])

    assert api.ok("GET", "/api/v1/tags", BOB) == []
    assert api.ok("GET", "/api/v1/repos", BOB) == []
    assert [u["github_user_id"] for u in api.ok("GET", "/api/v1/users", BOB)] == ["2"]
    assert _snapshot() == before


def test_mixing_ones_own_object_with_another_users_is_404(api: RepoTagsApi, alice: dict[str, Any]) -> None:
    bob_tag = api.ok("POST", "/api/v1/tag", BOB, {"name": "go"})
    bob_repo = api.ok("POST", "/api/v1/repo", BOB, {"github_repo_id": "2"})
    before = _snapshot()

    _as_missing(api, "POST", f"/api/v1/tag/{bob_tag['id']}/repo/{alice['repo']['id']}", None, alice["repo"]["id"])
    _as_missing(api, "POST", f"/api/v1/tag/{alice['tag']['id']}/repo/{bob_repo['id']}", None, alice["tag"]["id"])

    assert _snapshot() == before


def test_names_and_repos_are_unique_per_user_not_across_users(api: RepoTagsApi, alice: dict[str, Any]) -> None:
    bob_tag = api.ok("POST", "/api/v1/tag", BOB, {"name": "rust"})
    bob_repo = api.ok("POST", "/api/v1/repo", BOB, {"github_repo_id": "1296269"})

    assert bob_tag["id"] != alice["tag"]["id"] and bob_tag["user_id"] != alice["user"]["id"]
    assert bob_repo["id"] != alice["repo"]["id"]
    assert api.ok("GET", "/api/v1/tags", ALICE) == [alice["tag"]]
    assert api.ok("GET", "/api/v1/tags", BOB) == [bob_tag]
    assert api.ok("GET", "/api/v1/repos", ALICE) == [alice["repo"]]
    assert api.ok("GET", f"/api/v1/repos/tag/{alice['tag']['id']}", ALICE) == [alice["repo"]]
