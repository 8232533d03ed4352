"""Tags and repos of the repo tags API: create, read, list, update, delete, and their rules."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from chalicelib.repotags.models import Claim, Repo, Tag
from tests.support.github_server import GithubStandIn
from tests.support.repotags_api import (
    RepoTagsApi,
    count,
    dynamodb_operations,
    stored_items,
)

TOKEN = "ghp_tagsAndReposToken00000000000000000001"


@pytest.fixture
def github(github: GithubStandIn) -> GithubStandIn:
    github.accept(TOKEN, 4242)
    return github


@pytest.fixture
def user_id(api: RepoTagsApi) -> str:
    (user,) = api.ok("GET", "/api/v1/users", TOKEN)
    return str(user["id"])


def assert_claim_moved(old_key: str, new_key: str, owner_id: str) -> None:
    """The claim on a name (or repository id) moved with its rename: the new key is the owner's, the old one free."""
    assert Claim.get(new_key).owner_id == owner_id
    with pytest.raises(Claim.DoesNotExist):
        Claim.get(old_key)


def _is_uuid4(value: str) -> bool:
    return uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value


# --- tags ------------------------------------------------------------------------------------------


def test_a_created_tag_is_returned_stored_and_claims_its_name(api: RepoTagsApi, user_id: str) -> None:
    before = int(time.time())
    tag = api.ok("POST", "/api/v1/tag", TOKEN, {"name": "  rust  "})

    assert set(tag) == {"id", "created_at", "updated_at", "user_id", "name"}
    assert _is_uuid4(tag["id"])
    assert (tag["name"], tag["user_id"]) == ("rust", user_id)
    assert isinstance(tag["created_at"], int) and before <= tag["created_at"] <= time.time()
    assert tag["updated_at"] == tag["created_at"]
    stored = Tag.get(tag["id"])
    assert (stored.name, stored.user_id, int(stored.created_at)) == ("rust", user_id, tag["created_at"])
    assert Claim.get(f"tag-name|{user_id}|rust").owner_id == tag["id"]
    assert api.ok("GET", f"/api/v1/tag/{tag['id']}", TOKEN) == tag


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": ""}, "'name' must not be empty."),
        ({"name": " \t "}, "'name' must not be empty."),
        ({"name": "x" * 101}, "'name' must be at most 100 characters long."),
        ({"name": "two\nlines"}, "'name' must not contain control characters or line breaks."),
        ({"name": 7}, "'name' is required and must be a string."),
        ({}, "'name' is required and must be a string."),
    ],
)
def test_an_invalid_tag_name_is_400_and_stores_nothing(
    api: RepoTagsApi, user_id: str, body: dict[str, Any], message: str
) -> None:
    answer = api.call("POST", "/api/v1/tag", token=TOKEN, body=body)
    assert (answer.status, answer.body) == (400, {"status": "400 Bad Request", "message": message})
    assert count("tags") == 0


def test_a_tag_name_of_100_characters_is_accepted(api: RepoTagsApi, user_id: str) -> None:
    assert api.ok("POST", "/api/v1/tag", TOKEN, {"name": "é" * 100})["name"] == "é" * 100


def test_malformed_json_is_400(api: RepoTagsApi, user_id: str) -> None:
    answer = api.call("POST", "/api/v1/tag", token=TOKEN, body=b'{"name": ')
    assert answer.status == 400
    assert answer.body["status"] == "400 Bad Request"
    assert answer.body["message"].startswith("The request body is not valid JSON")
    assert api.call("POST", "/api/v1/tag", token=TOKEN, body=["rust"]).status == 400


@pytest.mark.parametrize("duplicate", ["rust", " rust ", "Rust", "RUST"])
def test_a_duplicate_tag_name_is_400_and_stores_nothing(api: RepoTagsApi, user_id: str, duplicate: str) -> None:
    first = api.ok("POST", "/api/v1/tag", TOKEN, {"name": "rust"})

    answer = api.call("POST", "/api/v1/tag", token=TOKEN, body={"name": duplicate})

    assert answer.status == 400
    assert answer.body == {
        "status": "400 Bad Request",
        "message": f"You already have a tag named '{duplicate.strip()}'.",
    }
    assert api.ok("GET", "/api/v1/tags", TOKEN) == [first]
    assert count("tags") == 1 and count("claims") == 2  # the GitHub account's claim and the name's


def test_tags_are_listed_oldest_first(api: RepoTagsApi, user_id: str) -> None:
    created = [api.ok("POST", "/api/v1/tag", TOKEN, {"name": name}) for name in ("b", "a", "c")]
    listed = api.ok("GET", "/api/v1/tags", TOKEN)
    assert sorted(listed, key=lambda t: (t["created_at"], t["id"])) == listed
    assert {t["id"] for t in listed} == {t["id"] for t in created}


def test_a_list_of_thousands_of_tags_is_complete_and_reads_an_index(api: RepoTagsApi, user_id: str) -> None:
    now = int(time.time())
    # 2500 tags named with 100 characters of 4 bytes each (UTF-8): about 1.3 MB, more than one page of
    # a DynamoDB query (1 MB), so the list is complete only if LastEvaluatedKey is followed.
    with Tag.batch_write() as batch:
        for i in range(2500):
            name = f"{i:05d}-" + "\U0001d11e" * 94
            batch.save(Tag(str(uuid.uuid4()), user_id=user_id, name=name, created_at=now - i, updated_at=now - i))

    with dynamodb_operations() as operations:
        listed = api.ok("GET", "/api/v1/tags", TOKEN)

    assert len(listed) == 2500
    assert len({t["id"] for t in listed}) == 2500
    assert listed[0]["name"].startswith("02499-") and listed[-1]["name"].startswith("00000-")
    assert operations.count("Query") == 2  # two pages of the by_user index
    assert "Scan" not in operations


def test_a_tag_is_renamed_and_its_old_name_freed(api: RepoTagsApi, user_id: str) -> None:
    tag = api.ok("POST", "/api/v1/tag", TOKEN, {"name": "rust"})

    renamed = api.ok("PUT", "/api/v1/tag", TOKEN, {"id": tag["id"], "name": " go "})

    assert {**renamed, "updated_at": tag["updated_at"]} == {**tag, "name": "go"}
    assert renamed["updated_at"] >= tag["updated_at"]
    assert Tag.get(tag["id"]).name == "go"
    assert_claim_moved(f"tag-name|{user_id}|rust", f"tag-name|{user_id}|go", tag["id"])
    assert api.ok("POST", "/api/v1/tag", TOKEN, {"name": "rust"})["name"] == "rust"


def test_a_tag_can_change_the_case_of_its_own_name(api: RepoTagsApi, user_id: str) -> None:
    tag = api.ok("POST", "/api/v1/tag", TOKEN, {"name": "rust"})
    assert api.ok("PUT", "/api/v1/tag", TOKEN, {"id": tag["id"], "name": "Rust"})["name"] == "Rust"
    assert Claim.get(f"tag-name|{user_id}|rust").owner_id == tag["id"]


def test_renaming_to_another_tags_name_is_400_and_changes_nothing(api: RepoTagsApi, user_id: str) -> None:
    rust = api.ok("POST", "/api/v1/tag", TOKEN, {"name": "rust"})
    go = api.ok("POST", "/api/v1/tag", TOKEN, {"name": "go"})

    answer = api.call("PUT", "/api/v1/tag", token=TOKEN, body={"id": go["id"], "name": "RUST"})

    assert answer.status == 400
    assert answer.body["message"] == "You already have a tag named 'RUST'."
    assert api.ok("GET", f"/api/v1/tag/{go['id']}", TOKEN) == go
    assert api.ok("GET", f"/api/v1/tag/{rust['id']}", TOKEN) == rust
    assert Claim.get(f"tag-name|{user_id}|go").owner_id == go["id"]


def test_an_update_without_a_name_returns_the_tag_unchanged(api: RepoTagsApi, user_id: str) -> None:
    tag = api.ok("POST", "/api/v1/tag", TOKEN, {"name": "rust"})
    assert api.ok("PUT", "/api/v1/tag", TOKEN, {"id": tag["id"]}) == tag
    assert api.ok("PUT", "/api/v1/tag", TOKEN, {"id": tag["id"], "name": None}) == tag


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 400), ({"id": 12}, 400), ({"id": "nope", "name": "x"}, 404), ({"id": str(uuid.uuid4()), "name": "x"}, 404)],
)
def test_an_update_of_no_tag_is_refused(api: RepoTagsApi, user_id: str, body: dict[str, Any], status: int) -> None:
    answer = api.call("PUT", "/api/v1/tag", token=TOKEN, body=body)
    assert answer.status == status
    assert answer.body["status"] == {400: "400 Bad Request", 404: "404 Not Found"}[status]


def test_a_deleted_tag_is_returned_and_gone(api: RepoTagsApi, user_id: str) -> None:
    tag = api.ok("POST", "/api/v1/tag", TOKEN, {"name": "rust"})
    kept = api.ok("POST", "/api/v1/tag", TOKEN, {"name": "go"})

    assert api.ok("DELETE", f"/api/v1/tag/{tag['id']}", TOKEN) == tag

    gone = api.call("GET", f"/api/v1/tag/{tag['id']}", token=TOKEN)
    assert (gone.status, gone.body) == (
        404,
        {"status": "404 Not Found", "message": f"No tag has the id '{tag['id']}'."},
    )
    assert api.call("DELETE", f"/api/v1/tag/{tag['id']}", token=TOKEN).status == 404
    assert api.ok("GET", "/api/v1/tags", TOKEN) == [kept]
    assert [i["key"]["S"] for i in stored_items("claims") if i["key"]["S"].startswith("tag-name|")] == [
        f"tag-name|{user_id}|go"
    ]
    assert api.ok("POST", "/api/v1/tag", TOKEN, {"name": "rust"})["id"] != tag["id"]


@pytest.mark.parametrize("path_id", ["not-a-uuid", "1", "x" * 500, "C56A4180-65AA-42EC-A945-5FD21DEC0538"])
@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "/api/v1/tag/{}"),
        ("DELETE", "/api/v1/tag/{}"),
        ("GET", "/api/v1/repo/{}"),
        ("DELETE", "/api/v1/repo/{}"),
        ("GET", "/api/v1/tags/repo/{}"),
        ("GET", "/api/v1/repos/tag/{}"),
        ("DELETE", "/api/v1/repo-tag-assoc/{}"),
    ],
)
def test_an_id_that_is_not_a_uuid_is_404(
    api: RepoTagsApi, user_id: str, method: str, template: str, path_id: str
) -> None:
    answer = api.call(method, template.format(path_id), token=TOKEN)
    assert answer.status == 404
    assert answer.body["status"] == "404 Not Found"
    assert answer.body["message"].startswith("No ")


# --- repos -----------------------------------------------------------------------------------------


def test_a_created_repo_is_returned_and_stored(api: RepoTagsApi, user_id: str) -> None:
    repo = api.ok("POST", "/api/v1/repo", TOKEN, {"github_repo_id": "1296269"})

    assert set(repo) == {"id", "created_at", "updated_at", "user_id", "github_repo_id"}
    assert _is_uuid4(repo["id"]) and repo["user_id"] == user_id and repo["github_repo_id"] == "1296269"
    assert isinstance(repo["created_at"], int) and repo["created_at"] == repo["updated_at"]
    assert Repo.get(repo["id"]).github_repo_id == "1296269"
    assert Claim.get(f"repo|{user_id}|1296269").owner_id == repo["id"]
    assert api.ok("GET", f"/api/v1/repo/{repo['id']}", TOKEN) == repo
    assert api.ok("GET", "/api/v1/repos", TOKEN) == [repo]


def test_a_numeric_github_repo_id_is_stored_as_a_string(api: RepoTagsApi, user_id: str) -> None:
    assert api.ok("POST", "/api/v1/repo", TOKEN, {"github_repo_id": 1296269})["github_repo_id"] == "1296269"


@pytest.mark.parametrize("value", [None, "", "  ", True, 0, "with space", "x" * 101, ["1"]])
def test_an_invalid_github_repo_id_is_400(api: RepoTagsApi, user_id: str, value: Any) -> None:
    answer = api.call("POST", "/api/v1/repo", token=TOKEN, body={"github_repo_id": value})
    assert answer.status == 400
    assert answer.body["message"].startswith("'github_repo_id' ")
    assert count("repos") == 0


def test_a_duplicate_repo_is_400_and_stores_nothing(api: RepoTagsApi, user_id: str) -> None:
    repo = api.ok("POST", "/api/v1/repo", TOKEN, {"github_repo_id": "1296269"})

    answer = api.call("POST", "/api/v1/repo", token=TOKEN, body={"github_repo_id": 1296269})

    assert answer.status == 400
    assert answer.body == {
        "status": "400 Bad Request",
        "message": "You already have a repo with github_repo_id '1296269'.",
    }
    assert api.ok("GET", "/api/v1/repos", TOKEN) == [repo]


def test_a_repo_is_pointed_at_another_github_repo(api: RepoTagsApi, user_id: str) -> None:
    repo = api.ok("POST", "/api/v1/repo", TOKEN, {"github_repo_id": "1"})
    other = api.ok("POST", "/api/v1/repo", TOKEN, {"github_repo_id": "2"})

    updated = api.ok("PUT", "/api/v1/repo", TOKEN, {"id": repo["id"], "github_repo_id": "3"})
    taken = api.call("PUT", "/api/v1/repo", token=TOKEN, body={"id": repo["id"], "github_repo_id": "2"})

    assert updated["github_repo_id"] == "3" and updated["id"] == repo["id"]
    assert taken.status == 400
    assert api.ok("GET", f"/api/v1/repo/{repo['id']}", TOKEN) == updated
    assert api.ok("GET", f"/api/v1/repo/{other['id']}", TOKEN) == other
    assert api.ok("PUT", "/api/v1/repo", TOKEN, {"id": repo["id"]}) == updated
    assert_claim_moved(f"repo|{user_id}|1", f"repo|{user_id}|3", repo["id"])
    assert api.ok("POST", "/api/v1/repo", TOKEN, {"github_repo_id": "1"})["github_repo_id"] == "1"


def test_a_deleted_repo_is_returned_and_gone(api: RepoTagsApi, user_id: str) -> None:
    repo = api.ok("POST", "/api/v1/repo", TOKEN, {"github_repo_id": "1"})

    assert api.ok("DELETE", f"/api/v1/repo/{repo['id']}", TOKEN) == repo

    assert api.call("GET", f"/api/v1/repo/{repo['id']}", token=TOKEN).status == 404
    assert api.ok("GET", "/api/v1/repos", TOKEN) == []
    assert count("repos") == 0
    with pytest.raises(Claim.DoesNotExist):
        Claim.get(f"repo|{user_id}|1")


def test_a_wrong_method_answers_405_in_the_giistr_body(api: RepoTagsApi, user_id: str) -> None:
    answer = api.call("PATCH", "/api/v1/tag", token=TOKEN, body={"name": "x"})
    assert answer.status == 405
    assert answer.body["status"] == "405 Method Not Allowed"


# --- body rules: trimming, exact messages, order ----------------------------------------------------


def test_names_and_github_repo_ids_are_trimmed_as_python_strips_and_names_nfc_normalised(
    api: RepoTagsApi, user_id: str
) -> None:
    assert api.ok("POST", "/api/v1/tag", TOKEN, {"name": "\x1c\u3000cafe\u0301\x1f"})["name"] == "caf\u00e9"
    assert api.ok("POST", "/api/v1/repo", TOKEN, {"github_repo_id": "\x1d42\x1e "})["github_repo_id"] == "42"
    answer = api.call("POST", "/api/v1/tag", token=TOKEN, body={"name": "\x1c\x1d\x1e\x1f"})
    assert answer.body == {"status": "400 Bad Request", "message": "'name' must not be empty."}


_REPO_ID_FORM = "'github_repo_id' must be at most 100 printable ASCII characters, without spaces."


@pytest.mark.parametrize(
    ("method", "body", "message"),
    [
        ("POST", {"github_repo_id": True}, "'github_repo_id' is required and must be a string."),
        ("POST", {"github_repo_id": " "}, "'github_repo_id' must not be empty."),
        ("POST", {"github_repo_id": "1 2"}, _REPO_ID_FORM),
        ("POST", {"github_repo_id": "1" * 101}, _REPO_ID_FORM),
        ("PUT", {"github_repo_id": "1"}, "'id' is required and must be a string."),
        ("PUT", {"id": "", "github_repo_id": ""}, "'id' is required and must be a string."),
        ("PUT", {"id": str(uuid.uuid4()), "github_repo_id": 0}, "'github_repo_id' is required and must be a string."),
    ],
)
def test_a_repo_body_breaking_a_rule_is_400_with_its_message(
    api: RepoTagsApi, user_id: str, method: str, body: dict[str, Any], message: str
) -> None:
    answer = api.call(method, "/api/v1/repo", token=TOKEN, body=body)
    assert (answer.status, answer.body) == (400, {"status": "400 Bad Request", "message": message})
    assert count("repos") == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"id": 12, "name": ""}, "'id' is required and must be a string."),
        ({"id": str(uuid.uuid4()), "name": "a\u2028b"}, "'name' must not contain control characters or line breaks."),
    ],
)
def test_a_tag_update_checks_the_id_then_the_name_before_looking_the_tag_up(
    api: RepoTagsApi, user_id: str, body: dict[str, Any], message: str
) -> None:
    answer = api.call("PUT", "/api/v1/tag", token=TOKEN, body=body)
    assert (answer.status, answer.body) == (400, {"status": "400 Bad Request", "message": message})
