"""Associations of tags and repos: create, delete, list both ways, and removal with their tag or repo."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chalicelib.repotags.models import Assoc, Claim
from tests.support.github_server import GithubStandIn
from tests.support.repotags_api import (
    RepoTagsApi,
    count,
    stored_items,
)

TOKEN = "ghp_assocsToken0000000000000000000000001"


@pytest.fixture
def api(api: RepoTagsApi, github: GithubStandIn) -> RepoTagsApi:
    github.accept(TOKEN, 77)
    return api


@pytest.fixture
def objects(api: RepoTagsApi) -> dict[str, dict[str, Any]]:
    """Two tags and two repos of the token's user."""
    return {
        "rust": api.ok("POST", "/api/v1/tag", TOKEN, {"name": "rust"}),
        "web": api.ok("POST", "/api/v1/tag", TOKEN, {"name": "web"}),
        "one": api.ok("POST", "/api/v1/repo", TOKEN, {"github_repo_id": "1"}),
        "two": api.ok("POST", "/api/v1/repo", TOKEN, {"github_repo_id": "2"}),
    }


def _tag_repo(api: RepoTagsApi, tag: dict[str, Any], repo: dict[str, Any]) -> dict[str, Any]:
    return dict(api.ok("POST", f"/api/v1/tag/{tag['id']}/repo/{repo['id']}", TOKEN))


def _ids(items: list[dict[str, Any]]) -> set[str]:
    return {item["id"] for item in items}


def test_an_association_is_returned_with_its_repo_and_tag(api: RepoTagsApi, objects: dict[str, Any]) -> None:
    rust, one = objects["rust"], objects["one"]

    result = _tag_repo(api, rust, one)

    assert set(result) == {"assoc", "repo", "tag"}
    assoc = result["assoc"]
    assert set(assoc) == {"id", "repo_id", "tag_id"}
    assert uuid.UUID(assoc["id"]).version == 4
    assert (assoc["tag_id"], assoc["repo_id"]) == (rust["id"], one["id"])
    assert (result["tag"], result["repo"]) == (rust, one)
    stored = Assoc.get(assoc["id"])
    assert (stored.tag_id, stored.repo_id, stored.user_id) == (rust["id"], one["id"], rust["user_id"])
    assert Claim.get(f"assoc|{rust['id']}|{one['id']}").owner_id == assoc["id"]


def test_a_duplicate_association_is_400_and_stores_nothing(api: RepoTagsApi, objects: dict[str, Any]) -> None:
    _tag_repo(api, objects["rust"], objects["one"])

    answer = api.call("POST", f"/api/v1/tag/{objects['rust']['id']}/repo/{objects['one']['id']}", token=TOKEN)

    assert (answer.status, answer.body) == (
        400,
        {"status": "400 Bad Request", "message": "This tag is already on this repo."},
    )
    assert count("assocs") == 1


def test_associating_a_missing_tag_or_repo_is_404(api: RepoTagsApi, objects: dict[str, Any]) -> None:
    missing = str(uuid.uuid4())
    no_tag = api.call("POST", f"/api/v1/tag/{missing}/repo/{objects['one']['id']}", token=TOKEN)
    no_repo = api.call("POST", f"/api/v1/tag/{objects['rust']['id']}/repo/{missing}", token=TOKEN)
    assert (no_tag.status, no_tag.body["message"]) == (404, f"No tag has the id '{missing}'.")
    assert (no_repo.status, no_repo.body["message"]) == (404, f"No repo has the id '{missing}'.")
    assert count("assocs") == 0


def test_tags_of_a_repo_and_repos_of_a_tag_are_listed(api: RepoTagsApi, objects: dict[str, Any]) -> None:
    rust, web, one, two = objects["rust"], objects["web"], objects["one"], objects["two"]
    _tag_repo(api, rust, one)
    _tag_repo(api, web, one)
    _tag_repo(api, rust, two)

    assert _ids(api.ok("GET", f"/api/v1/tags/repo/{one['id']}", TOKEN)) == {rust["id"], web["id"]}
    assert api.ok("GET", f"/api/v1/tags/repo/{two['id']}", TOKEN) == [rust]
    repos = api.ok("GET", f"/api/v1/repos/tag/{rust['id']}", TOKEN)
    assert repos == sorted([one, two], key=lambda r: (r["created_at"], r["id"]))
    assert api.ok("GET", f"/api/v1/repos/tag/{web['id']}", TOKEN) == [one]


def test_an_unused_tag_or_repo_lists_nothing(api: RepoTagsApi, objects: dict[str, Any]) -> None:
    assert api.ok("GET", f"/api/v1/tags/repo/{objects['two']['id']}", TOKEN) == []
    assert api.ok("GET", f"/api/v1/repos/tag/{objects['web']['id']}", TOKEN) == []


def test_a_deleted_association_is_returned_and_gone(api: RepoTagsApi, objects: dict[str, Any]) -> None:
    rust, one = objects["rust"], objects["one"]
    created = _tag_repo(api, rust, one)
    assoc_id = created["assoc"]["id"]

    deleted = api.ok("DELETE", f"/api/v1/repo-tag-assoc/{assoc_id}", TOKEN)

    assert deleted == created
    assert api.ok("GET", f"/api/v1/tags/repo/{one['id']}", TOKEN) == []
    again = api.call("DELETE", f"/api/v1/repo-tag-assoc/{assoc_id}", token=TOKEN)
    assert (again.status, again.body) == (
        404,
        {"status": "404 Not Found", "message": f"No association has the id '{assoc_id}'."},
    )
    assert count("assocs") == 0
    assert not [c for c in stored_items("claims") if c["key"]["S"].startswith("assoc|")]
    assert _tag_repo(api, rust, one)["assoc"]["id"] != assoc_id  # the pair can be tagged again


def test_deleting_a_tag_deletes_its_associations_only(api: RepoTagsApi, objects: dict[str, Any]) -> None:
    rust, web, one, two = objects["rust"], objects["web"], objects["one"], objects["two"]
    _tag_repo(api, rust, one)
    _tag_repo(api, rust, two)
    kept = _tag_repo(api, web, one)

    api.ok("DELETE", f"/api/v1/tag/{rust['id']}", TOKEN)

    assert [a["id"]["S"] for a in stored_items("assocs")] == [kept["assoc"]["id"]]
    assoc_claims = [c["key"]["S"] for c in stored_items("claims") if c["key"]["S"].startswith("assoc|")]
    assert assoc_claims == [f"assoc|{web['id']}|{one['id']}"]
    assert api.ok("GET", f"/api/v1/tags/repo/{one['id']}", TOKEN) == [web]
    assert api.ok("GET", f"/api/v1/tags/repo/{two['id']}", TOKEN) == []
    assert _ids(api.ok("GET", "/api/v1/repos", TOKEN)) == {one["id"], two["id"]}
    assert api.call("GET", f"/api/v1/repos/tag/{rust['id']}", token=TOKEN).status == 404


def test_deleting_a_repo_deletes_its_associations_only(api: RepoTagsApi, objects: dict[str, Any]) -> None:
    rust, web, one, two = objects["rust"], objects["web"], objects["one"], objects["two"]
    _tag_repo(api, rust, one)
    _tag_repo(api, web, one)
    kept = _tag_repo(api, rust, two)

    assert api.ok("DELETE", f"/api/v1/repo/{one['id']}", TOKEN) == one

    assert [a["id"]["S"] for a in stored_items("assocs")] == [kept["assoc"]["id"]]
    assert api.ok("GET", f"/api/v1/repos/tag/{rust['id']}", TOKEN) == [two]
    assert api.ok("GET", f"/api/v1/repos/tag/{web['id']}", TOKEN) == []
    assert _ids(api.ok("GET", "/api/v1/tags", TOKEN)) == {rust["id"], web["id"]}


def test_an_association_left_by_a_deleted_tag_is_not_listed_and_goes_on_delete(
    api: RepoTagsApi, objects: dict[str, Any]
) -> None:
    rust, one = objects["rust"], objects["one"]
    # As if the tag was deleted a moment before this association reached its index.
    orphan = Assoc(
        str(uuid.uuid4()), user_id=rust["user_id"], tag_id=str(uuid.uuid4()), repo_id=one["id"], created_at=1
    )
    orphan.save()
    Claim(f"assoc|{orphan.tag_id}|{one['id']}", owner_id=orphan.id, created_at=1).save()

    assert api.ok("GET", f"/api/v1/tags/repo/{one['id']}", TOKEN) == []
    answer = api.call("DELETE", f"/api/v1/repo-tag-assoc/{orphan.id}", token=TOKEN)
    assert answer.status == 404
    assert count("assocs") == 0
    assert not [c for c in stored_items("claims") if c["key"]["S"].startswith("assoc|")]
