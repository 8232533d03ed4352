"""X-Github-Token authentication of the repo tags API, against a local stand-in for the GitHub API."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from chalicelib.crypto import keyed_hash, open_json
from chalicelib.repotags.models import Claim, Token, User
from chalicelib.repotags.service import TOKEN_HASH_PURPOSE, TOKEN_PURPOSE
from tests.support.github_server import GithubStandIn, unreachable_url
from tests.support.repotags_api import (
    RepoTagsApi,
    count,
    stored_bytes,
    use_settings,
)

TOKEN_A = "ghp_tokenOfAlice0000000000000000000000001"
TOKEN_A2 = "ghp_secondTokenOfAlice000000000000000002"
TOKEN_B = "ghp_tokenOfBob000000000000000000000000003"
ALICE, BOB = 1001, 2002


def _stored_token(token: str) -> Token:
    return Token.get(keyed_hash(token, TOKEN_HASH_PURPOSE))


def _sign_in(api: RepoTagsApi, github: GithubStandIn, token: str, github_id: int) -> dict[str, Any]:
    github.accept(token, github_id)
    users = api.ok("GET", "/api/v1/users", token)
    assert len(users) == 1
    return users[0]


def _assert_nothing_stored() -> None:
    assert [count(t) for t in ("users", "tokens", "claims")] == [0, 0, 0]


# --- the header ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/tags"),
        ("POST", "/api/v1/tag"),
        ("GET", "/api/v1/users"),
        ("GET", f"/api/v1/user/{uuid.uuid4()}"),
        ("POST", f"/api/v1/tag/{uuid.uuid4()}/repo/{uuid.uuid4()}"),
        ("DELETE", f"/api/v1/repo-tag-assoc/{uuid.uuid4()}"),
    ],
)
def test_a_request_without_a_github_token_is_refused_with_400(
    api: RepoTagsApi, github: GithubStandIn, method: str, path: str
) -> None:
    answer = api.call(method, path, body={"name": "x"} if method == "POST" else None)
    assert answer.status == 400
    assert answer.body == {
        "status": "400 Bad Request",
        "message": "The X-Github-Token header is required: a GitHub token of yours.",
    }
    assert github.calls() == 0


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_github_token_is_refused_with_400(api: RepoTagsApi, github: GithubStandIn, value: str) -> None:
    answer = api.call("GET", "/api/v1/tags", token=value)
    assert answer.status == 400
    assert answer.body["status"] == "400 Bad Request"
    assert github.calls() == 0


def test_a_repeated_github_token_header_is_refused_with_400(api: RepoTagsApi, github: GithubStandIn) -> None:
    from app import app

    github.accept(TOKEN_A, ALICE)
    # API Gateway passes a repeated header in multiValueHeaders (the test client cannot send one).
    event = {
        "resource": "/api/v1/tags",
        "path": "/api/v1/tags",
        "httpMethod": "GET",
        "headers": {"X-Github-Token": TOKEN_A, "Accept": "*/*"},
        "multiValueHeaders": {"X-Github-Token": [TOKEN_B, TOKEN_A], "Accept": ["*/*"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": "/api/v1/tags", "httpMethod": "GET", "path": "/api/v1/tags"},
        "body": None,
        "isBase64Encoded": False,
    }
    result = app(event, None)
    assert result["statusCode"] == 400
    body = base64.b64decode(result["body"]) if result.get("isBase64Encoded") else result["body"]
    assert json.loads(body) == {"status": "400 Bad Request", "message": "Send the X-Github-Token header once."}

    folded = api.call("GET", "/api/v1/tags", token=f"{TOKEN_B}, {TOKEN_A}")
    assert folded.status == 400
    assert folded.body["message"] == "Send the X-Github-Token header once."
    assert github.calls() == 0
    _assert_nothing_stored()


@pytest.mark.parametrize("token", ["ghp_with space", "x" * 256, "ghp_é"])
def test_a_malformed_token_is_refused_without_asking_github(
    api: RepoTagsApi, github: GithubStandIn, token: str
) -> None:
    answer = api.call("GET", "/api/v1/tags", token=token)
    assert answer.status == 400
    assert "X-Github-Token must be a GitHub token" in answer.body["message"]
    assert github.calls() == 0


# --- unknown tokens --------------------------------------------------------------------------------


def test_an_unknown_token_github_accepts_creates_a_user(api: RepoTagsApi, github: GithubStandIn) -> None:
    github.accept(TOKEN_A, ALICE)

    users = api.ok("GET", "/api/v1/users", TOKEN_A)

    assert github.requests == [{"path": "/user", "authorization": f"token {TOKEN_A}"}]
    (user,) = users
    assert set(user) == {"id", "created_at", "updated_at", "token_id", "github_user_id"}
    assert uuid.UUID(user["id"]).version == 4 and uuid.UUID(user["token_id"]).version == 4
    assert user["github_user_id"] == str(ALICE)
    assert isinstance(user["created_at"], int) and user["created_at"] == user["updated_at"]
    stored = User.get(user["id"])
    assert (stored.github_user_id, stored.token_id) == (str(ALICE), user["token_id"])
    token = _stored_token(TOKEN_A)
    assert (token.id, token.user_id, token.github_user_id) == (user["token_id"], user["id"], str(ALICE))
    assert open_json(token.token, purpose=TOKEN_PURPOSE, record=token.id) == TOKEN_A
    assert Claim.get(f"github-user|{ALICE}").owner_id == user["id"]
    assert TOKEN_A.encode() not in stored_bytes()


def test_the_stored_token_opens_only_for_its_own_record(api: RepoTagsApi, github: GithubStandIn) -> None:
    from chalicelib.errors import IntegrityError

    _sign_in(api, github, TOKEN_A, ALICE)
    token = _stored_token(TOKEN_A)
    with pytest.raises(IntegrityError):
        open_json(token.token, purpose=TOKEN_PURPOSE, record=str(uuid.uuid4()))


def test_a_known_token_is_not_shown_to_github_again_within_the_interval(
    api: RepoTagsApi, github: GithubStandIn
) -> None:
    user = _sign_in(api, github, TOKEN_A, ALICE)

    for _ in range(3):
        assert api.ok("GET", f"/api/v1/user/{user['id']}", TOKEN_A) == user

    assert github.calls() == 1
    assert count("users") == 1


def test_a_new_token_of_a_known_github_account_replaces_the_stored_one(api: RepoTagsApi, github: GithubStandIn) -> None:
    first = _sign_in(api, github, TOKEN_A, ALICE)
    github.revoke(TOKEN_A)  # the user made a new token and deleted the old one

    second = _sign_in(api, github, TOKEN_A2, ALICE)

    assert second["id"] == first["id"]
    assert second["token_id"] != first["token_id"]
    assert second["created_at"] == first["created_at"]
    assert User.get(first["id"]).token_id == second["token_id"]
    assert count("users") == 1 and count("tokens") == 1
    with pytest.raises(Token.DoesNotExist):
        _stored_token(TOKEN_A)
    # The old token is unknown again: GitHub is asked, and refuses it.
    assert api.call("GET", "/api/v1/tags", token=TOKEN_A).status == 401
    assert TOKEN_A.encode() not in stored_bytes() and TOKEN_A2.encode() not in stored_bytes()


def test_different_github_accounts_become_different_users(api: RepoTagsApi, github: GithubStandIn) -> None:
    alice = _sign_in(api, github, TOKEN_A, ALICE)
    bob = _sign_in(api, github, TOKEN_B, BOB)
    assert alice["id"] != bob["id"]
    assert count("users") == 2


def test_a_token_github_rejects_is_401_and_stores_nothing(api: RepoTagsApi, github: GithubStandIn) -> None:
    answer = api.call("GET", "/api/v1/tags", token=TOKEN_A)

    assert answer.status == 401
    assert answer.body == {
        "status": "401 Unauthorized",
        "message": "GitHub rejected this token: it is not valid, has expired or was revoked.",
    }
    assert github.calls() == 1
    _assert_nothing_stored()


@pytest.mark.parametrize(("failure", "retry_after"), [("rate-limit-403", range(100, 121)), ("rate-limit-429", [30])])
def test_a_rate_limited_github_is_503_and_creates_no_user(
    api: RepoTagsApi, github: GithubStandIn, failure: str, retry_after: Any
) -> None:
    github.accept(TOKEN_A, ALICE)
    github.failure = failure

    answer = api.call("POST", "/api/v1/tag", token=TOKEN_A, body={"name": "rust"})

    assert answer.status == 503
    assert answer.body["status"] == "503 Service Unavailable"
    assert answer.body["message"].startswith("GitHub's API rate limit is exhausted")
    assert int(answer.headers["retry-after"]) in retry_after
    _assert_nothing_stored()
    assert count("tags") == 0


def test_an_unreachable_github_is_503_and_creates_no_user(api: RepoTagsApi, monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, GITHUB_API_URL=unreachable_url())

    answer = api.call("GET", "/api/v1/tags", token=TOKEN_A)

    assert answer.status == 503
    assert answer.body == {
        "status": "503 Service Unavailable",
        "message": "GitHub could not be reached to check the token (ConnectionError).",
    }
    _assert_nothing_stored()


def test_a_failing_github_is_503_and_creates_no_user(api: RepoTagsApi, github: GithubStandIn) -> None:
    github.accept(TOKEN_A, ALICE)
    github.failure = "server-error"

    answer = api.call("GET", "/api/v1/tags", token=TOKEN_A)

    assert answer.status == 503
    assert answer.body["message"] == "GitHub answered HTTP 502 when asked about the token; try again shortly."
    _assert_nothing_stored()


def test_a_plain_http_github_api_url_off_loopback_is_refused(api: RepoTagsApi, monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, GITHUB_API_URL="http://github.example.com/api")

    answer = api.call("GET", "/api/v1/tags", token=TOKEN_A)

    assert answer.status == 503
    assert answer.body["message"] == "GITHUB_API_URL must be an https URL; tokens are not sent over plain HTTP."
    _assert_nothing_stored()


# --- re-checks -------------------------------------------------------------------------------------


def _age_token(token: str, seconds: int) -> int:
    item = _stored_token(token)
    item.update(actions=[Token.checked_at.set(int(item.checked_at) - seconds)])
    return int(item.checked_at)


def test_a_known_token_is_checked_again_after_the_interval(api: RepoTagsApi, github: GithubStandIn) -> None:
    _sign_in(api, github, TOKEN_A, ALICE)
    aged = _age_token(TOKEN_A, 3600)  # GITHUB_RECHECK_SECONDS defaults to 3600

    api.ok("GET", "/api/v1/tags", TOKEN_A)
    api.ok("GET", "/api/v1/tags", TOKEN_A)

    assert github.calls() == 2  # sign-in, then one re-check; the next request trusts it again
    assert int(_stored_token(TOKEN_A).checked_at) > aged


def test_a_revoked_token_stops_working_once_rechecked(api: RepoTagsApi, github: GithubStandIn) -> None:
    user = _sign_in(api, github, TOKEN_A, ALICE)
    api.ok("POST", "/api/v1/tag", TOKEN_A, {"name": "rust"})
    github.revoke(TOKEN_A)
    assert api.call("GET", "/api/v1/tags", token=TOKEN_A).status == 200  # within the interval: trusted

    _age_token(TOKEN_A, 3600)
    answer = api.call("GET", "/api/v1/tags", token=TOKEN_A)

    assert answer.status == 401
    assert answer.body["status"] == "401 Unauthorized"
    assert api.call("GET", "/api/v1/tags", token=TOKEN_A).status == 401
    assert User.get(user["id"]).token_id == user["token_id"]  # the user and their tags stay
    assert count("tags") == 1


def test_the_recheck_interval_is_a_setting(
    api: RepoTagsApi, github: GithubStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_settings(monkeypatch, GITHUB_RECHECK_SECONDS="0")
    _sign_in(api, github, TOKEN_A, ALICE)
    api.ok("GET", "/api/v1/tags", TOKEN_A)
    assert github.calls() == 2
    github.revoke(TOKEN_A)
    assert api.call("GET", "/api/v1/tags", token=TOKEN_A).status == 401


def test_a_due_recheck_while_github_is_down_is_503(api: RepoTagsApi, github: GithubStandIn) -> None:
    _sign_in(api, github, TOKEN_A, ALICE)
    _age_token(TOKEN_A, 3600)
    github.failure = "rate-limit-429"

    answer = api.call("GET", "/api/v1/tags", token=TOKEN_A)

    assert answer.status == 503
    github.failure = None
    assert api.call("GET", "/api/v1/tags", token=TOKEN_A).status == 200


# --- users and the operator ------------------------------------------------------------------------


def test_a_user_sees_only_themselves(api: RepoTagsApi, github: GithubStandIn) -> None:
    alice = _sign_in(api, github, TOKEN_A, ALICE)
    bob = _sign_in(api, github, TOKEN_B, BOB)

    assert api.ok("GET", "/api/v1/users", TOKEN_A) == [alice]
    assert api.ok("GET", f"/api/v1/user/{alice['id']}", TOKEN_A) == alice
    other = api.call("GET", f"/api/v1/user/{bob['id']}", token=TOKEN_A)
    missing_id = str(uuid.uuid4())
    missing = api.call("GET", f"/api/v1/user/{missing_id}", token=TOKEN_A)
    assert (other.status, missing.status) == (404, 404)
    assert other.body == {"status": "404 Not Found", "message": f"No user has the id '{bob['id']}'."}
    assert missing.body == {"status": "404 Not Found", "message": f"No user has the id '{missing_id}'."}


def test_token_id_names_the_stored_record_never_the_token(api: RepoTagsApi, github: GithubStandIn) -> None:
    alice = _sign_in(api, github, TOKEN_A, ALICE)
    answer = api.call("GET", f"/api/v1/user/{alice['id']}", token=TOKEN_A)
    assert alice["token_id"] == _stored_token(TOKEN_A).id
    assert TOKEN_A not in json.dumps(answer.body)
    assert TOKEN_A not in json.dumps(api.operator("GET", "/api/v1/users").body)


def test_the_operator_secret_key_lists_every_user(api: RepoTagsApi, github: GithubStandIn) -> None:
    alice = _sign_in(api, github, TOKEN_A, ALICE)
    bob = _sign_in(api, github, TOKEN_B, BOB)
    calls = github.calls()

    listed = api.operator("GET", "/api/v1/users")
    one = api.operator("GET", f"/api/v1/user/{bob['id']}")

    assert listed.status == 200
    assert sorted(listed.body, key=lambda u: u["github_user_id"]) == [alice, bob]
    assert [u["created_at"] for u in listed.body] == sorted(u["created_at"] for u in listed.body)
    assert (one.status, one.body) == (200, bob)
    assert github.calls() == calls  # the secret key needs no GitHub token and asks GitHub nothing


def test_a_wrong_secret_key_is_401_even_with_a_valid_token(api: RepoTagsApi, github: GithubStandIn) -> None:
    _sign_in(api, github, TOKEN_A, ALICE)

    answer = api.call("GET", "/api/v1/users", token=TOKEN_A, secret_key="not-the-key")

    assert answer.status == 401
    assert answer.body == {"status": "401 Unauthorized", "message": "The secret key is not valid."}


def test_the_secret_key_does_not_open_the_tag_routes(api: RepoTagsApi, github: GithubStandIn) -> None:
    answer = api.operator("GET", "/api/v1/tags")
    assert answer.status == 400
    assert answer.body["message"] == "The X-Github-Token header is required: a GitHub token of yours."


@pytest.mark.parametrize("user_id", ["not-a-uuid", "0" * 300, "C56A4180-65AA-42EC-A945-5FD21DEC0538"])
def test_a_user_id_that_is_not_a_uuid_is_404(api: RepoTagsApi, github: GithubStandIn, user_id: str) -> None:
    answer = api.operator("GET", f"/api/v1/user/{user_id}")
    assert answer.status == 404
    assert answer.body["status"] == "404 Not Found"
