"""Races settled by DynamoDB: concurrent creates of one name, repo, association or user.

Threads call the service functions directly (the Chalice test client is not thread safe); moto's
in-process mock serves every thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.crypto import keyed_hash
from chalicelib.errors import KeyportError
from chalicelib.repotags import service
from chalicelib.repotags.contracts import RepoTagsTagInput
from chalicelib.repotags.models import Token, User
from tests.support.github_server import GithubStandIn
from tests.support.repotags_api import (
    atomic_dynamodb_requests,
    count,
    stored_items,
)

THREADS = 12
TOKEN = "ghp_raceToken000000000000000000000000001"


@pytest.fixture(scope="module", autouse=True)
def atomic_requests(repotags_module: None) -> Iterator[None]:
    """The module's moto handles one DynamoDB request at a time, as DynamoDB isolates each request."""
    with atomic_dynamodb_requests():
        yield


@pytest.fixture
def user_id(github: GithubStandIn) -> str:
    github.accept(TOKEN, 5)
    return service.authenticate(TOKEN)


def _read_name(name: str) -> str:
    """A tag name as POST /api/v1/tag reads it from the body (trimmed)."""
    return RepoTagsTagInput.model_validate({"name": name}).name


def _race(calls: list[Callable[[], Any]]) -> tuple[list[Any], list[KeyportError]]:
    """Run the calls at once, one thread each; their results and errors."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = []
    errors: list[KeyportError] = []
    lock = threading.Lock()

    def run(call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            result = call()
        except KeyportError as e:
            with lock:
                errors.append(e)
        else:
            with lock:
                results.append(result)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) + len(errors) == len(calls)
    return results, errors


def test_concurrent_creates_of_one_tag_name_make_one_tag(user_id: str) -> None:
    names = ["rust", "Rust", " rust", "RUST"] * (THREADS // 4)
    results, errors = _race([lambda name=name: service.create_tag(user_id, _read_name(name)) for name in names])

    assert len(results) == 1
    assert {(e.status, e.message) for e in errors} <= {
        (400, f"You already have a tag named '{name.strip()}'.") for name in names
    }
    assert len(errors) == THREADS - 1
    assert service.list_tags(user_id) == results
    assert count("tags") == 1
    claims = [c for c in stored_items("claims") if c["key"]["S"].startswith("tag-name|")]
    assert [c["owner_id"]["S"] for c in claims] == [results[0]["id"]]


def test_concurrent_renames_to_one_name_leave_one_tag_with_it(user_id: str) -> None:
    tags = [service.create_tag(user_id, f"tag {i}") for i in range(THREADS)]
    results, errors = _race([lambda tag=tag: service.update_tag(user_id, tag["id"], "go") for tag in tags])

    assert len(results) == 1 and {e.status for e in errors} == {400}
    names = sorted(t["name"] for t in service.list_tags(user_id))
    assert names.count("go") == 1 and len(names) == THREADS
    claims = sorted(c["key"]["S"].rsplit("|", 1)[1] for c in stored_items("claims") if "tag-name|" in c["key"]["S"])
    assert claims == sorted(name.casefold() for name in names)


def test_concurrent_creates_of_one_repo_make_one_repo(user_id: str) -> None:
    results, errors = _race([lambda: service.create_repo(user_id, "1296269")] * THREADS)

    assert len(results) == 1
    assert {(e.status, e.message) for e in errors} == {(400, "You already have a repo with github_repo_id '1296269'.")}
    assert count("repos") == 1


def test_concurrent_associations_of_one_pair_make_one(user_id: str) -> None:
    tag = service.create_tag(user_id, "rust")
    repo = service.create_repo(user_id, "1")

    results, errors = _race([lambda: service.associate(user_id, tag["id"], repo["id"])] * THREADS)

    assert len(results) == 1
    assert {(e.status, e.message) for e in errors} == {(400, "This tag is already on this repo.")}
    assert count("assocs") == 1


def test_concurrent_first_requests_with_one_token_make_one_user(github: GithubStandIn) -> None:
    github.accept(TOKEN, 5)

    results, errors = _race([lambda: service.authenticate(TOKEN)] * THREADS)

    assert errors == []
    assert len(set(results)) == 1
    assert count("users") == 1 and count("tokens") == 1
    assert Token.get(keyed_hash(TOKEN, service.TOKEN_HASH_PURPOSE)).user_id == results[0]


def test_concurrent_new_tokens_of_one_github_account_leave_one_user_and_one_token(github: GithubStandIn) -> None:
    tokens = [f"ghp_concurrentToken{i:022d}" for i in range(THREADS)]
    for token in tokens:
        github.accept(token, 5)

    results, errors = _race([lambda token=token: service.authenticate(token) for token in tokens])

    assert errors == []
    assert len(set(results)) == 1
    assert count("users") == 1 and count("tokens") == 1
    user = User.get(results[0])
    (stored,) = stored_items("tokens")
    assert (stored["token_hash"]["S"], stored["id"]["S"]) == (user.token_hash, user.token_id)
    assert user.token_hash in {keyed_hash(t, service.TOKEN_HASH_PURPOSE) for t in tokens}


def test_a_tag_deleted_while_being_associated_leaves_no_association(user_id: str) -> None:
    for i in range(3):
        tag = service.create_tag(user_id, f"short-lived {i}")
        repos = [service.create_repo(user_id, f"{i}-{n}") for n in range(THREADS - 1)]
        tag_id = str(tag["id"])
        calls: list[Callable[[], Any]] = [lambda tag_id=tag_id: service.delete_tag(user_id, tag_id)]
        calls += [lambda r=r, tag_id=tag_id: service.associate(user_id, tag_id, r["id"]) for r in repos]

        _results, errors = _race(calls)

        assert {e.status for e in errors} <= {404}
        assert service.list_tags(user_id) == []
        assert [a for a in stored_items("assocs") if a["tag_id"]["S"] == tag["id"]] == []
        assert not [c for c in stored_items("claims") if c["key"]["S"].startswith(f"assoc|{tag['id']}")]
        for repo in repos:
            assert service.tags_of_repo(user_id, repo["id"]) == []
