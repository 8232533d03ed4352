"""Configurations (Pizzly's setups): client credentials and scopes, sealed at rest and masked in every answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.pizzly import ISO_MS_UTC, PizzlyApi, raw_item, stored_configuration

CLIENT_ID = "Iv1.8a61f9b3a7aba766"
CLIENT_SECRET = "1ae5b8c2d9e0f3a4b5c6d7e8f9a0b1c2d3e4f5a6"
CREDENTIALS = {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}


def masked(value: str) -> str:
    return value[:4] + "*" * (len(value) - 4) if len(value) >= 12 else "*" * len(value)


def register(api: PizzlyApi, integration: str = "github", body: Any = None) -> dict[str, Any]:
    answer = api.post(f"/api/{integration}/configurations", body or {"credentials": CREDENTIALS})
    assert answer.status == 201, answer.body
    view: dict[str, Any] = answer.body["configuration"]
    return view


# --- creating ------------------------------------------------------------------------------------------


def test_registering_a_configuration_answers_201_with_message_and_masked_configuration(api: PizzlyApi) -> None:
    answer = api.post("/api/github/configurations", {"credentials": CREDENTIALS, "scopes": ["read:user", "repo"]})

    assert answer.status == 201
    assert answer.body["message"] == "Configuration registered"
    configuration = answer.body["configuration"]
    assert configuration["object"] == "configuration"
    assert configuration["integration"] == "github"
    assert configuration["scopes"] == ["read:user", "repo"]
    assert configuration["credentials"] == {"clientId": "Iv1.****************", "clientSecret": "1ae5" + "*" * 36}
    assert ISO_MS_UTC.match(configuration["created_at"])
    assert configuration["created_at"] == configuration["updated_at"]
    assert CLIENT_SECRET not in answer.raw.decode()
    assert CLIENT_ID not in answer.raw.decode()


def test_configuration_credentials_are_masked_in_every_response(api: PizzlyApi) -> None:
    created = api.post("/api/github/configurations", {"credentials": CREDENTIALS})
    setup_id = created.body["configuration"]["id"]
    answers = [
        created,
        api.get(f"/api/github/configurations/{setup_id}"),
        api.get("/api/github/configurations"),
        api.put(f"/api/github/configurations/{setup_id}", {"credentials": CREDENTIALS, "scopes": ["x"]}),
    ]

    for answer in answers:
        assert answer.status in (200, 201)
        text = answer.raw.decode()
        assert CLIENT_SECRET not in text and CLIENT_SECRET[:12] not in text
        assert CLIENT_ID not in text
        assert masked(CLIENT_SECRET) in text


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("abcdefghijkl", "abcd********"),  # 12 characters: the first four show
        ("abcdefghijk", "***********"),  # 11 characters: fully masked
        ("a", "*"),
        ("  padded-client-secret  ", "padd****************"),  # stored trimmed
    ],
)
def test_short_credentials_are_masked_entirely_and_long_ones_show_four_characters(
    api: PizzlyApi, value: str, shown: str
) -> None:
    configuration = register(api, body={"credentials": {"clientId": value, "clientSecret": value}})

    assert configuration["credentials"] == {"clientId": shown, "clientSecret": shown}


def test_an_oauth1_integration_takes_a_consumer_key_and_secret(api: PizzlyApi) -> None:
    body = {"credentials": {"consumerKey": "consumer-key-123456", "consumerSecret": "consumer-secret-abcdef"}}

    answer = api.post("/api/twitter/configurations", body)

    assert answer.status == 201
    assert answer.body["configuration"]["credentials"] == {
        "consumerKey": masked("consumer-key-123456"),
        "consumerSecret": masked("consumer-secret-abcdef"),
    }


def test_an_oauth1_integration_refuses_oauth2_credentials(api: PizzlyApi) -> None:
    answer = api.post("/api/trello/configurations", {"credentials": CREDENTIALS})

    assert answer.status == 400
    kind, message = answer.error()
    assert kind == "invalid_credentials"
    assert "consumerKey" in message
    assert api.get("/api/trello/configurations").body["data"] == []


def test_an_oauth2_integration_refuses_oauth1_credentials(api: PizzlyApi) -> None:
    body = {"credentials": {"consumerKey": "consumer-key-123456", "consumerSecret": "consumer-secret-abcdef"}}

    answer = api.post("/api/github/configurations", body)

    assert answer.status == 400
    assert answer.error()[0] == "invalid_credentials"
    assert "clientId" in answer.error()[1]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"credentials": None},
        {"credentials": "Iv1.8a61f9b3a7aba766:secret"},
        {"credentials": {"clientId": CLIENT_ID}},
        {"credentials": {"clientSecret": CLIENT_SECRET}},
        {"credentials": {"clientId": "", "clientSecret": CLIENT_SECRET}},
        {"credentials": {"clientId": "   ", "clientSecret": CLIENT_SECRET}},
        {"credentials": {"clientId": 12345678901234, "clientSecret": CLIENT_SECRET}},
        {"credentials": {"clientId": CLIENT_ID, "clientSecret": "x" * 4097}},
    ],
    ids=["none", "null", "string", "no-secret", "no-id", "empty-id", "blank-id", "number-id", "huge-secret"],
)
def test_invalid_credentials_are_400_invalid_credentials_and_nothing_is_stored(api: PizzlyApi, body: Any) -> None:
    answer = api.post("/api/github/configurations", body)

    assert answer.status == 400
    assert answer.error()[0] == "invalid_credentials"
    assert api.get("/api/github/configurations").body["data"] == []


@pytest.mark.parametrize(
    "scopes",
    ["read:user", [1, 2], ["read:user", ""], ["  "], [None], {"read": True}, ["s" * 513], ["s"] * 201],
    ids=["string", "numbers", "empty-scope", "blank-scope", "null-scope", "object", "long-scope", "too-many"],
)
def test_invalid_scopes_are_400_invalid_scopes_and_nothing_is_stored(api: PizzlyApi, scopes: Any) -> None:
    answer = api.post("/api/github/configurations", {"credentials": CREDENTIALS, "scopes": scopes})

    assert answer.status == 400
    assert answer.error()[0] == "invalid_scopes"
    assert api.get("/api/github/configurations").body["data"] == []


def test_scopes_are_trimmed_and_deduplicated_in_order(api: PizzlyApi) -> None:
    configuration = register(api, body={"credentials": CREDENTIALS, "scopes": ["b", " a ", "b", "a", "c"]})

    assert configuration["scopes"] == ["b", "a", "c"]


def test_a_configuration_for_an_unknown_integration_is_404(api: PizzlyApi) -> None:
    answer = api.post("/api/no-such-provider/configurations", {"credentials": CREDENTIALS})

    assert answer.status == 404
    assert answer.error()[0] == "unknown_integration"


# --- stored state ----------------------------------------------------------------------------------


def test_the_stored_configuration_holds_the_credentials_sealed_never_in_clear(api: PizzlyApi) -> None:
    from chalicelib.crypto import open_json
    from chalicelib.integrations.service import CONFIGURATION_PURPOSE

    configuration = register(api, body={"credentials": CREDENTIALS, "scopes": ["read:user"]})

    item = stored_configuration(configuration["id"])
    assert item.integration == "github"
    assert list(item.scopes) == ["read:user"]
    sealed = bytes(item.credentials)
    assert sealed.startswith(b"KP1")
    for secret in (CLIENT_SECRET, CLIENT_ID):
        assert secret.encode() not in sealed
    raw = json.dumps(raw_item("configurations", configuration["id"]), default=repr)
    assert CLIENT_SECRET not in raw and CLIENT_ID not in raw
    opened = open_json(sealed, purpose=CONFIGURATION_PURPOSE, record=configuration["id"])
    assert opened == CREDENTIALS


# --- reading, replacing, removing ----------------------------------------------------------------------


def test_a_configuration_is_retrieved_by_its_id(api: PizzlyApi) -> None:
    created = register(api, body={"credentials": CREDENTIALS, "scopes": ["read:user"]})

    answer = api.get(f"/api/github/configurations/{created['id']}")

    assert answer.status == 200
    assert answer.body == created


def test_updating_a_configuration_replaces_credentials_and_scopes(api: PizzlyApi) -> None:
    from chalicelib.crypto import open_json
    from chalicelib.integrations.service import CONFIGURATION_PURPOSE

    created = register(api, body={"credentials": CREDENTIALS, "scopes": ["read:user", "repo"]})
    new = {"clientId": "abcd-new-client-id", "clientSecret": "1234-new-client-secret-xyz"}

    answer = api.put(f"/api/github/configurations/{created['id']}", {"credentials": new, "scopes": ["gist"]})

    assert answer.status == 200
    assert answer.body["message"] == "Configuration updated"
    view = answer.body["configuration"]
    assert view["id"] == created["id"]
    assert view["scopes"] == ["gist"]
    assert view["credentials"] == {"clientId": masked(new["clientId"]), "clientSecret": masked(new["clientSecret"])}
    assert view["created_at"] == created["created_at"]
    assert view["updated_at"] >= created["updated_at"]
    item = stored_configuration(created["id"])
    assert open_json(bytes(item.credentials), purpose=CONFIGURATION_PURPOSE, record=created["id"]) == new
    assert api.get(f"/api/github/configurations/{created['id']}").body == view


def test_sending_back_the_masked_credentials_keeps_the_stored_secrets(api: PizzlyApi) -> None:
    from chalicelib.crypto import open_json
    from chalicelib.integrations.service import CONFIGURATION_PURPOSE

    created = register(api, body={"credentials": CREDENTIALS, "scopes": ["read:user"]})
    new_id = "abcd-new-client-id"
    echoed = {"clientId": new_id, "clientSecret": created["credentials"]["clientSecret"]}

    answer = api.put(f"/api/github/configurations/{created['id']}", {"credentials": echoed, "scopes": ["repo"]})

    assert answer.status == 200
    item = stored_configuration(created["id"])
    stored = open_json(bytes(item.credentials), purpose=CONFIGURATION_PURPOSE, record=created["id"])
    assert stored == {"clientId": new_id, "clientSecret": CREDENTIALS["clientSecret"]}


def test_updating_a_configuration_without_scopes_clears_them(api: PizzlyApi) -> None:
    created = register(api, body={"credentials": CREDENTIALS, "scopes": ["read:user"]})

    answer = api.put(f"/api/github/configurations/{created['id']}", {"credentials": CREDENTIALS})

    assert answer.status == 200
    assert answer.body["configuration"]["scopes"] == []
    assert list(stored_configuration(created["id"]).scopes or []) == []


def test_an_invalid_update_changes_nothing(api: PizzlyApi) -> None:
    created = register(api, body={"credentials": CREDENTIALS, "scopes": ["read:user"]})
    before = raw_item("configurations", created["id"])

    refused = [
        api.put(f"/api/github/configurations/{created['id']}", {"credentials": {"clientId": CLIENT_ID}}),
        api.put(f"/api/github/configurations/{created['id']}", {"credentials": CREDENTIALS, "scopes": "repo"}),
    ]

    assert [a.status for a in refused] == [400, 400]
    assert [a.error()[0] for a in refused] == ["invalid_credentials", "invalid_scopes"]
    assert raw_item("configurations", created["id"]) == before


def test_deleting_a_configuration_removes_it(api: PizzlyApi) -> None:
    created = register(api)

    answer = api.delete(f"/api/github/configurations/{created['id']}")

    assert answer.status == 200
    assert answer.body == {"message": "Configuration removed"}
    assert raw_item("configurations", created["id"]) == {}
    again = api.get(f"/api/github/configurations/{created['id']}")
    assert again.status == 404
    assert again.error()[0] == "unknown_configuration"
    assert api.delete(f"/api/github/configurations/{created['id']}").status == 404


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_an_unknown_configuration_id_is_404_unknown_configuration(api: PizzlyApi, method: str) -> None:
    body = {"credentials": CREDENTIALS} if method == "PUT" else None

    answer = api.request(method, "/api/github/configurations/7b0a3c47-0000-4000-8000-000000000000", body)

    assert answer.status == 404
    kind, message = answer.error()
    assert kind == "unknown_configuration"
    assert "7b0a3c47-0000-4000-8000-000000000000" in message


def test_a_very_long_configuration_id_is_404_without_echoing_it_whole(api: PizzlyApi) -> None:
    answer = api.get("/api/github/configurations/" + "x" * 1000)

    assert answer.status == 404
    assert answer.error()[0] == "unknown_configuration"
    assert "x" * 129 not in answer.error()[1]


def test_a_configuration_of_github_is_not_found_under_gitlab(api: PizzlyApi) -> None:
    created = register(api, "github")
    before = raw_item("configurations", created["id"])

    answers = [
        api.get(f"/api/gitlab/configurations/{created['id']}"),
        api.put(f"/api/gitlab/configurations/{created['id']}", {"credentials": CREDENTIALS, "scopes": ["api"]}),
        api.delete(f"/api/gitlab/configurations/{created['id']}"),
    ]

    assert [a.status for a in answers] == [404, 404, 404]
    assert {a.error()[0] for a in answers} == {"unknown_configuration"}
    assert raw_item("configurations", created["id"]) == before
    assert api.get("/api/gitlab/configurations").body["data"] == []


def test_a_configuration_under_an_unknown_integration_is_404_unknown_integration(api: PizzlyApi) -> None:
    created = register(api, "github")

    answer = api.get(f"/api/no-such-provider/configurations/{created['id']}")

    assert answer.status == 404
    assert answer.error()[0] == "unknown_integration"


# --- listing -------------------------------------------------------------------------------------------


def test_thirty_configurations_page_by_ten_newest_first_without_duplicates(api: PizzlyApi) -> None:
    from chalicelib.oauth.models import Configuration

    created = [register(api, body={"credentials": CREDENTIALS, "scopes": [f"s{i}"]})["id"] for i in range(30)]
    register(api, "gitlab")  # another integration's configuration never shows

    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    for _ in range(4):
        path = "/api/github/configurations?limit=10" + (f"&cursor={cursor}" if cursor else "")
        answer = api.get(path)
        assert answer.status == 200
        assert answer.body["object"] == "list"
        pages.append(answer.body["data"])
        cursor = answer.body["next_cursor"]
        assert answer.body["has_more"] is (cursor is not None)
        if cursor is None:
            break

    assert [len(p) for p in pages] == [10, 10, 10]
    seen = [c["id"] for page in pages for c in page]
    assert len(set(seen)) == 30
    assert set(seen) == set(created)
    stamps = [int(Configuration.get(i).created_at) for i in seen]
    assert stamps == sorted(stamps, reverse=True)
    for configuration in (c for page in pages for c in page):
        assert configuration["credentials"]["clientSecret"] == masked(CLIENT_SECRET)


def test_configurations_created_in_the_same_millisecond_page_without_loss(api: PizzlyApi) -> None:
    from chalicelib.oauth.models import Configuration

    created = [register(api)["id"] for _ in range(7)]
    for setup_id in created:  # the index's sort key ties: the cursor must also carry the item's id
        item = Configuration.get(setup_id)
        item.created_at = 1_700_000_000_000
        item.save()

    seen: list[str] = []
    cursor: str | None = None
    while True:
        answer = api.get("/api/github/configurations?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        seen += [c["id"] for c in answer.body["data"]]
        cursor = answer.body["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == set(created)


def test_an_empty_list_has_no_next_cursor(api: PizzlyApi) -> None:
    answer = api.get("/api/github/configurations")

    assert answer.status == 200
    assert answer.body == {"object": "list", "data": [], "has_more": False, "next_cursor": None}


def test_exactly_one_full_page_has_no_next_cursor(api: PizzlyApi) -> None:
    for _ in range(3):
        register(api)

    answer = api.get("/api/github/configurations?limit=3")

    assert len(answer.body["data"]) == 3
    assert answer.body["next_cursor"] is None
    assert answer.body["has_more"] is False


@pytest.mark.parametrize(
    "cursor",
    ["not-a-cursor!!", "eyJjIjoxfQ", "eyJjIjoiMSIsImkiOiJ4In0", "W10", "eyJjIjp0cnVlLCJpIjoieCJ9", "%%%"],
    ids=["garbage", "missing-field", "wrong-type", "not-an-object", "bool-as-int", "percent"],
)
def test_a_tampered_cursor_is_400_invalid_cursor(api: PizzlyApi, cursor: str) -> None:
    register(api)

    answer = api.get(f"/api/github/configurations?cursor={cursor}")

    assert answer.status == 400
    assert answer.error()[0] == "invalid_cursor"


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5"])
def test_a_limit_out_of_range_is_400(api: PizzlyApi, limit: str) -> None:
    answer = api.get(f"/api/github/configurations?limit={limit}")

    assert answer.status == 400
    kind, message = answer.error()
    assert kind == "invalid_query"
    assert "limit" in message


def test_a_limit_of_one_and_a_hundred_are_accepted(api: PizzlyApi) -> None:
    register(api)

    assert api.get("/api/github/configurations?limit=1").status == 200
    assert api.get("/api/github/configurations?limit=100").status == 200
