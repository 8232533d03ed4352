"""Authentications (Pizzly's authIds): OAuth payloads imported, retrieved in full, listed, replaced and removed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.pizzly import ISO_MS_UTC, PizzlyApi, raw_item, stored_authentication

PAYLOAD = {"accessToken": "gho_access_token_0123456789", "refreshToken": "ghr_refresh_token_abcdefghij"}


@pytest.fixture
def setup_id(api: PizzlyApi) -> str:
    return str(api.configuration("github")["id"])


def ms_of(iso: str) -> int:
    return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC).timestamp() * 1000)


# --- importing -----------------------------------------------------------------------------------------


def test_importing_a_payload_answers_201_with_the_authentication(api: PizzlyApi, setup_id: str) -> None:
    answer = api.post("/api/github/authentications", {"setup_id": setup_id, "payload": PAYLOAD})

    assert answer.status == 201
    assert answer.body["message"] == "Authentication created"
    authentication = answer.body["authentication"]
    assert authentication["object"] == "authentication"
    assert authentication["integration"] == "github"
    assert authentication["setup_id"] == setup_id
    assert authentication["payload"]["accessToken"] == PAYLOAD["accessToken"]
    assert authentication["payload"]["refreshToken"] == PAYLOAD["refreshToken"]
    assert authentication["refresh"] == {
        "needs_reconnect": False,
        "attempts": 0,
        "last_error": None,
        "next_attempt_at": None,
    }
    assert stored_authentication(authentication["id"]).setup_id == setup_id


def test_an_authentication_can_be_imported_under_a_chosen_id(api: PizzlyApi, setup_id: str) -> None:
    answer = api.post(
        "/api/github/authentications", {"setup_id": setup_id, "payload": PAYLOAD, "auth_id": "customer-42"}
    )

    assert answer.status == 201
    assert answer.body["authentication"]["id"] == "customer-42"
    assert api.get("/api/github/authentications/customer-42").status == 200


def test_importing_under_an_existing_auth_id_is_409_and_keeps_the_first_payload(api: PizzlyApi, setup_id: str) -> None:
    first = api.authentication("github", setup_id, PAYLOAD, auth_id="customer-42")
    before = raw_item("authentications", "customer-42")

    answer = api.post(
        "/api/github/authentications",
        {"setup_id": setup_id, "payload": {"accessToken": "intruder-token-000"}, "auth_id": "customer-42"},
    )

    assert answer.status == 409
    assert answer.error()[0] == "conflict"
    assert "intruder-token-000" not in answer.raw.decode()
    assert raw_item("authentications", "customer-42") == before
    assert api.get("/api/github/authentications/customer-42").body["payload"] == first["payload"]


def test_an_auth_id_taken_by_another_integration_is_409_too(api: PizzlyApi, setup_id: str) -> None:
    api.authentication("github", setup_id, PAYLOAD, auth_id="shared-id")
    gitlab_setup = api.configuration("gitlab")["id"]

    answer = api.post(
        "/api/gitlab/authentications", {"setup_id": gitlab_setup, "payload": PAYLOAD, "auth_id": "shared-id"}
    )

    assert answer.status == 409
    assert stored_authentication("shared-id").integration == "github"


@pytest.mark.parametrize("auth_id", ["has space", "x" * 65, "semi;colon", 42, ""])
def test_an_invalid_auth_id_is_400_invalid_auth_id(api: PizzlyApi, setup_id: str, auth_id: Any) -> None:
    answer = api.post("/api/github/authentications", {"setup_id": setup_id, "payload": PAYLOAD, "auth_id": auth_id})

    assert answer.status == 400
    assert answer.error()[0] == "invalid_auth_id"
    assert api.get("/api/github/authentications").body["data"] == []


@pytest.mark.parametrize("body", [{"payload": PAYLOAD}, {"setup_id": "", "payload": PAYLOAD}, {"setup_id": None}])
def test_importing_without_setup_id_is_400_missing_setup_id(api: PizzlyApi, body: dict[str, Any]) -> None:
    answer = api.post("/api/github/authentications", body)

    assert answer.status == 400
    assert answer.error()[0] == "missing_setup_id"
    assert api.get("/api/github/authentications").body["data"] == []


def test_a_setup_id_that_is_not_a_string_is_400_missing_setup_id(api: PizzlyApi) -> None:
    answer = api.post("/api/github/authentications", {"setup_id": 12, "payload": PAYLOAD})

    assert answer.status == 400
    assert answer.error()[0] == "missing_setup_id"


def test_importing_with_an_unknown_setup_is_404_unknown_configuration(api: PizzlyApi) -> None:
    answer = api.post(
        "/api/github/authentications",
        {"setup_id": "7b0a3c47-0000-4000-8000-000000000000", "payload": PAYLOAD},
    )

    assert answer.status == 404
    assert answer.error()[0] == "unknown_configuration"
    assert api.get("/api/github/authentications").body["data"] == []


def test_importing_with_another_integrations_setup_is_404_unknown_configuration(api: PizzlyApi) -> None:
    gitlab_setup = api.configuration("gitlab")["id"]

    answer = api.post("/api/github/authentications", {"setup_id": gitlab_setup, "payload": PAYLOAD})

    assert answer.status == 404
    assert answer.error()[0] == "unknown_configuration"


@pytest.mark.parametrize("body", [{}, {"payload": None}], ids=["absent", "null"])
def test_importing_without_payload_is_400_missing_oauth_payload(
    api: PizzlyApi, setup_id: str, body: dict[str, Any]
) -> None:
    answer = api.post("/api/github/authentications", {"setup_id": setup_id, **body})

    assert answer.status == 400
    assert answer.error()[0] == "missing_oauth_payload"
    assert api.get("/api/github/authentications").body["data"] == []


@pytest.mark.parametrize(
    "payload",
    [
        {"refreshToken": "ghr_only"},
        {"accessToken": ""},
        {"accessToken": 123},
        "gho_token",
        ["gho_token"],
        {"accessToken": "gho_x", "refreshToken": 5},
        {"accessToken": "gho_x", "expiresIn": -1},
        {"accessToken": "gho_x", "expiresIn": "3600"},
        {"accessToken": "gho_x", "expiresIn": True},
    ],
    ids=[
        "no-access-token",
        "empty-access-token",
        "number-access-token",
        "string",
        "list",
        "number-refresh-token",
        "negative-expiry",
        "string-expiry",
        "bool-expiry",
    ],
)
def test_a_payload_without_a_valid_access_token_is_400_invalid_oauth_payload(
    api: PizzlyApi, setup_id: str, payload: Any
) -> None:
    answer = api.post("/api/github/authentications", {"setup_id": setup_id, "payload": payload})

    assert answer.status == 400
    assert answer.error()[0] == "invalid_oauth_payload"
    assert api.get("/api/github/authentications").body["data"] == []


def test_an_oauth1_payload_needs_a_token_and_a_token_secret(api: PizzlyApi) -> None:
    body = {"credentials": {"consumerKey": "consumer-key-123456", "consumerSecret": "consumer-secret-abcdef"}}
    trello_setup = api.post("/api/trello/configurations", body).body["configuration"]["id"]

    refused = api.post("/api/trello/authentications", {"setup_id": trello_setup, "payload": PAYLOAD})
    accepted = api.post(
        "/api/trello/authentications",
        {"setup_id": trello_setup, "payload": {"oAuthToken": "tok-1", "oAuthTokenSecret": "tok-secret-1"}},
    )

    assert refused.status == 400
    assert refused.error()[0] == "invalid_oauth_payload"
    assert "oAuthToken" in refused.error()[1]
    assert accepted.status == 201
    assert accepted.body["authentication"]["payload"]["oAuthTokenSecret"] == "tok-secret-1"


# --- retrieving --------------------------------------------------------------------------------------


def test_an_authentication_is_retrieved_with_its_full_payload_and_timestamps(api: PizzlyApi, setup_id: str) -> None:
    created = api.authentication("github", setup_id, {**PAYLOAD, "expiresIn": 3600, "extra": {"k": "v"}})

    answer = api.get(f"/api/github/authentications/{created['id']}")

    assert answer.status == 200
    body = answer.body
    assert body["object"] == "authentication"
    assert body["id"] == created["id"]
    payload = body["payload"]
    updated_at = payload.pop("updatedAt")
    assert payload == {**PAYLOAD, "expiresIn": 3600, "extra": {"k": "v"}}
    assert isinstance(updated_at, int) and not isinstance(updated_at, bool)
    assert ISO_MS_UTC.match(body["created_at"]) and ISO_MS_UTC.match(body["updated_at"])
    assert ms_of(body["updated_at"]) == updated_at
    assert ms_of(body["created_at"]) <= updated_at
    assert abs(updated_at - datetime.now(UTC).timestamp() * 1000) < 60_000
    assert ms_of(body["expires_at"]) == updated_at + 3600 * 1000


def test_an_updated_at_sent_in_the_payload_is_replaced_by_the_servers(api: PizzlyApi, setup_id: str) -> None:
    created = api.authentication("github", setup_id, {**PAYLOAD, "updatedAt": 1})

    assert created["payload"]["updatedAt"] > 1
    assert created["payload"]["updatedAt"] == ms_of(created["updated_at"])


def test_the_stored_payload_is_sealed_never_in_clear(api: PizzlyApi, setup_id: str) -> None:
    created = api.authentication("github", setup_id, PAYLOAD)

    raw = json.dumps(raw_item("authentications", created["id"]), default=repr)

    assert PAYLOAD["accessToken"] not in raw
    assert PAYLOAD["refreshToken"] not in raw
    assert bytes(stored_authentication(created["id"]).payload).startswith(b"KP1")


def test_an_unknown_authentication_is_404_unknown_authentication(api: PizzlyApi) -> None:
    answer = api.get("/api/github/authentications/1994cc00-a4d6-11ea-9187-b798bad9d2ac")

    assert answer.status == 404
    kind, message = answer.error()
    assert kind == "unknown_authentication"
    assert "1994cc00-a4d6-11ea-9187-b798bad9d2ac" in message


def test_an_authentication_of_github_is_not_found_under_gitlab(api: PizzlyApi, setup_id: str) -> None:
    created = api.authentication("github", setup_id, PAYLOAD)
    gitlab_setup = api.configuration("gitlab")["id"]
    before = raw_item("authentications", created["id"])

    answers = [
        api.get(f"/api/gitlab/authentications/{created['id']}"),
        api.put(f"/api/gitlab/authentications/{created['id']}", {"setup_id": gitlab_setup, "payload": PAYLOAD}),
        api.delete(f"/api/gitlab/authentications/{created['id']}"),
        api.post(f"/api/gitlab/authentications/{created['id']}/refresh"),
    ]

    assert [a.status for a in answers] == [404, 404, 404, 404]
    assert {a.error()[0] for a in answers} == {"unknown_authentication"}
    for answer in answers:
        assert PAYLOAD["accessToken"] not in answer.raw.decode()
    assert raw_item("authentications", created["id"]) == before


# --- listing -----------------------------------------------------------------------------------------


def test_authentications_are_listed_newest_first_and_filtered_by_setup(api: PizzlyApi, setup_id: str) -> None:
    other_setup = api.configuration("github")["id"]
    mine = [api.authentication("github", setup_id, {"accessToken": f"a{i}"})["id"] for i in range(3)]
    theirs = [api.authentication("github", other_setup, {"accessToken": f"b{i}"})["id"] for i in range(2)]
    gitlab_setup = api.configuration("gitlab")["id"]
    api.authentication("gitlab", gitlab_setup, {"accessToken": "c0"})

    everything = api.get("/api/github/authentications").body
    filtered = api.get(f"/api/github/authentications?setup_id={setup_id}").body
    under_gitlab = api.get(f"/api/gitlab/authentications?setup_id={setup_id}").body

    assert {a["id"] for a in everything["data"]} == set(mine + theirs)
    created = [ms_of(a["created_at"]) for a in everything["data"]]
    assert created == sorted(created, reverse=True)
    assert [a["id"] for a in filtered["data"]] == [a["id"] for a in everything["data"] if a["id"] in mine]
    assert filtered["next_cursor"] is None
    assert under_gitlab["data"] == []
    assert everything["data"][0]["payload"]["accessToken"] in {"a0", "a1", "a2", "b0", "b1"}


def test_authentications_page_through_every_item_once(api: PizzlyApi, setup_id: str) -> None:
    created = {api.authentication("github", setup_id, {"accessToken": f"t{i}"})["id"] for i in range(7)}

    for path in ("/api/github/authentications", f"/api/github/authentications?setup_id={setup_id}"):
        seen: list[str] = []
        sizes: list[int] = []
        cursor: str | None = None
        while True:
            answer = api.get(path + ("&" if "?" in path else "?") + "limit=3" + (f"&cursor={cursor}" if cursor else ""))
            assert answer.status == 200
            seen += [a["id"] for a in answer.body["data"]]
            sizes.append(len(answer.body["data"]))
            cursor = answer.body["next_cursor"]
            if cursor is None:
                break
        assert sizes == [3, 3, 1]
        assert len(seen) == len(set(seen)) == 7
        assert set(seen) == created


def test_a_tampered_authentications_cursor_is_400_invalid_cursor(api: PizzlyApi) -> None:
    answer = api.get("/api/github/authentications?cursor=eyJjIjoxfQ")

    assert answer.status == 400
    assert answer.error()[0] == "invalid_cursor"


def test_listing_authentications_of_an_unknown_integration_is_404(api: PizzlyApi) -> None:
    answer = api.get("/api/no-such-provider/authentications")

    assert answer.status == 404
    assert answer.error()[0] == "unknown_integration"


# --- replacing and removing ----------------------------------------------------------------------------


def test_updating_an_authentication_replaces_its_payload(api: PizzlyApi, setup_id: str) -> None:
    created = api.authentication("github", setup_id, {**PAYLOAD, "expiresIn": 3600, "scope": "repo"})
    new_payload = {"accessToken": "gho_new_access_token"}

    answer = api.put(f"/api/github/authentications/{created['id']}", {"payload": new_payload})

    assert answer.status == 200
    assert answer.body["message"] == "Authentication updated"
    view = answer.body["authentication"]
    updated_at = view["payload"].pop("updatedAt")
    assert view["payload"] == new_payload  # replaced, not merged: no refreshToken, expiresIn or scope left
    assert updated_at >= created["payload"]["updatedAt"]
    assert view["expires_at"] is None
    assert view["created_at"] == created["created_at"]
    assert view["setup_id"] == setup_id
    assert api.get(f"/api/github/authentications/{created['id']}").body == answer.body["authentication"] | {
        "payload": {**new_payload, "updatedAt": updated_at}
    }
    item = stored_authentication(created["id"])
    assert item.refresh_due_at is None and item.due_shard is None


def test_updating_an_authentication_can_move_it_to_another_setup_of_the_same_integration(
    api: PizzlyApi, setup_id: str
) -> None:
    created = api.authentication("github", setup_id, PAYLOAD)
    other_setup = api.configuration("github")["id"]
    gitlab_setup = api.configuration("gitlab")["id"]

    moved = api.put(f"/api/github/authentications/{created['id']}", {"setup_id": other_setup, "payload": PAYLOAD})
    refused = api.put(f"/api/github/authentications/{created['id']}", {"setup_id": gitlab_setup, "payload": PAYLOAD})

    assert moved.status == 200
    assert moved.body["authentication"]["setup_id"] == other_setup
    assert refused.status == 404
    assert refused.error()[0] == "unknown_configuration"
    assert stored_authentication(created["id"]).setup_id == other_setup


def test_an_invalid_update_keeps_the_stored_payload(api: PizzlyApi, setup_id: str) -> None:
    created = api.authentication("github", setup_id, PAYLOAD)
    before = raw_item("authentications", created["id"])

    answers = [
        api.put(f"/api/github/authentications/{created['id']}", {}),
        api.put(f"/api/github/authentications/{created['id']}", {"payload": {"refreshToken": "x"}}),
    ]

    assert [a.error()[0] for a in answers] == ["missing_oauth_payload", "invalid_oauth_payload"]
    assert raw_item("authentications", created["id"]) == before


def test_updating_an_unknown_authentication_is_404(api: PizzlyApi) -> None:
    answer = api.put("/api/github/authentications/nope", {"payload": PAYLOAD})

    assert answer.status == 404
    assert answer.error()[0] == "unknown_authentication"
    assert raw_item("authentications", "nope") == {}


def test_deleting_an_authentication_then_getting_it_is_404(api: PizzlyApi, setup_id: str) -> None:
    created = api.authentication("github", setup_id, PAYLOAD)

    answer = api.delete(f"/api/github/authentications/{created['id']}")

    assert answer.status == 200
    assert answer.body == {"message": "Authentication removed"}
    assert raw_item("authentications", created["id"]) == {}
    again = api.get(f"/api/github/authentications/{created['id']}")
    assert again.status == 404
    assert again.error()[0] == "unknown_authentication"
    assert api.delete(f"/api/github/authentications/{created['id']}").status == 404
    assert api.get("/api/github/authentications").body["data"] == []


def test_deleting_a_configuration_removes_its_authentications(api: PizzlyApi, setup_id: str) -> None:
    created = api.authentication("github", setup_id, PAYLOAD)

    assert api.delete(f"/api/github/configurations/{setup_id}").status == 200

    assert api.get(f"/api/github/authentications/{created['id']}").status == 404
    assert raw_item("authentications", created["id"]) == {}
