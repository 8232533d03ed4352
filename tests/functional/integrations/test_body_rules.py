"""Body rules of configurations and authentications: exact codes and messages, by auth type, in their order."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.pizzly import PizzlyApi

OAUTH2_CREDENTIALS = {"clientId": "client-id-0123456789", "clientSecret": "client-secret-abcdefghij"}
OAUTH1_CREDENTIALS = {"consumerKey": "consumer-key-123456", "consumerSecret": "consumer-secret-abcdef"}
PAYLOAD = {"accessToken": "gho_access_token_0123456789"}


@pytest.fixture
def setup_id(api: PizzlyApi) -> str:
    return str(api.configuration("github")["id"])


@pytest.mark.parametrize(
    ("integration", "body", "error"),
    [
        ("github", {}, ("invalid_credentials", "'credentials' must be an object with 'clientId' and 'clientSecret'.")),
        (
            "twitter",
            {"credentials": "x"},
            ("invalid_credentials", "'credentials' must be an object with 'consumerKey' and 'consumerSecret'."),
        ),
        (
            "github",
            {"credentials": {"clientId": " ", "clientSecret": 5}, "scopes": "read"},
            ("invalid_credentials", "'credentials.clientId' must be a non-empty string."),
        ),
        (
            "twitter",
            {"credentials": {**OAUTH2_CREDENTIALS, "consumerKey": "key"}},
            ("invalid_credentials", "'credentials.consumerSecret' must be a non-empty string."),
        ),
        (
            "github",
            {"credentials": OAUTH2_CREDENTIALS, "scopes": [""]},
            ("invalid_scopes", "'scopes' must be a list of strings."),
        ),
        (
            "github",
            {"credentials": OAUTH2_CREDENTIALS, "scopes": ["read"] * 201},
            ("invalid_scopes", "'scopes' can hold at most 200 scopes."),
        ),
    ],
)
def test_a_configuration_body_answers_its_first_broken_rule(
    api: PizzlyApi, integration: str, body: dict[str, Any], error: tuple[str, str]
) -> None:
    answer = api.post(f"/api/{integration}/configurations", body)

    assert answer.status == 400
    assert answer.error() == error


def test_credentials_are_trimmed_and_scopes_trimmed_without_repeats_the_other_auth_types_fields_ignored(
    api: PizzlyApi,
) -> None:
    credentials = {"consumerKey": "  key-0123456789ab  ", "consumerSecret": "s" * 12, "clientId": "ignored"}
    body = {"credentials": credentials, "scopes": [" read ", "read", "write"]}

    answer = api.post("/api/twitter/configurations", body)

    assert answer.status == 201
    configuration = answer.body["configuration"]
    assert configuration["credentials"] == {"consumerKey": "key-" + "*" * 12, "consumerSecret": "ssss" + "*" * 8}
    assert configuration["scopes"] == ["read", "write"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {"payload": 5},
            (
                "missing_setup_id",
                "'setup_id' is required: the id of the configuration this authentication was made with.",
            ),
        ),
        ({"setup_id": 7, "payload": 5}, ("missing_setup_id", "'setup_id' must be a string.")),
        ({"setup_id": "{setup}", "auth_id": "a b"}, ("missing_oauth_payload", "'payload' is required.")),
        (
            {"setup_id": "{setup}", "payload": [], "auth_id": "a b"},
            ("invalid_oauth_payload", "'payload' must be an object."),
        ),
        (
            {"setup_id": "{setup}", "payload": {"accessToken": "", "expiresIn": 0}},
            ("invalid_oauth_payload", "'payload.accessToken' must be a non-empty string."),
        ),
        (
            {"setup_id": "{setup}", "payload": {**PAYLOAD, "idToken": 1, "expiresIn": True}},
            ("invalid_oauth_payload", "'payload.idToken' must be a string."),
        ),
        (
            {"setup_id": "{setup}", "payload": {**PAYLOAD, "expiresIn": True}},
            ("invalid_oauth_payload", "'payload.expiresIn' must be a positive number of seconds."),
        ),
        (
            {"setup_id": "{setup}", "payload": PAYLOAD, "id": "a b", "connect_params": 5},
            ("invalid_auth_id", "'auth_id' must be a UUID or an id of letters, digits, '-' and '_'."),
        ),
        (
            {"setup_id": "{setup}", "payload": PAYLOAD, "auth_id": "mine\n"},
            ("invalid_auth_id", "'auth_id' must be a UUID or an id of letters, digits, '-' and '_'."),
        ),
        (
            {"setup_id": "{setup}", "payload": PAYLOAD, "connect_params": {"shop": "acme\n"}},
            (
                "invalid_connect_params",
                "Connect parameter 'shop' may hold only letters, digits, '.', '-' and '_' (100 at most).",
            ),
        ),
        (
            {"setup_id": "{setup}", "payload": PAYLOAD, "connect_params": {"shop": 5}},
            ("invalid_connect_params", "'connect_params' must be an object of string values."),
        ),
        (
            {"setup_id": "{setup}", "payload": PAYLOAD, "connect_params": {"shop": "a/b"}},
            (
                "invalid_connect_params",
                "Connect parameter 'shop' may hold only letters, digits, '.', '-' and '_' (100 at most).",
            ),
        ),
    ],
)
def test_an_import_answers_its_first_broken_rule(
    api: PizzlyApi, setup_id: str, body: dict[str, Any], error: tuple[str, str]
) -> None:
    given = {k: setup_id if v == "{setup}" else v for k, v in body.items()}

    answer = api.post("/api/github/authentications", given)

    assert answer.status == 400
    assert answer.error() == error


def test_an_unknown_configuration_is_answered_before_a_bad_payload(api: PizzlyApi) -> None:
    answer = api.post("/api/github/authentications", {"setup_id": "nope", "payload": 5, "auth_id": "a b"})

    assert answer.status == 404
    assert answer.error()[0] == "unknown_configuration"


def test_an_oauth1_import_needs_the_token_and_its_secret_and_id_names_the_authentication(api: PizzlyApi) -> None:
    setup_id = api.post("/api/twitter/configurations", {"credentials": OAUTH1_CREDENTIALS}).body["configuration"]["id"]

    refused = api.post("/api/twitter/authentications", {"setup_id": setup_id, "payload": {"oAuthToken": "t"}})
    created = api.post(
        "/api/twitter/authentications",
        {"setup_id": setup_id, "payload": {"oAuthToken": "t", "oAuthTokenSecret": "s", "extra": [1]}, "id": "tw-1"},
    )

    assert refused.error() == ("invalid_oauth_payload", "'payload.oAuthTokenSecret' must be a non-empty string.")
    assert created.status == 201
    assert created.body["authentication"]["id"] == "tw-1"
    assert created.body["authentication"]["payload"]["extra"] == [1]  # what else the provider gave: as given


def test_an_update_answers_setup_then_connect_params_then_payload(api: PizzlyApi, setup_id: str) -> None:
    auth_id = api.authentication("github", setup_id, PAYLOAD)["id"]
    path = f"/api/github/authentications/{auth_id}"

    answers = [
        api.put(path, {"setup_id": None, "connect_params": 5, "payload": 5}),
        api.put(path, {"setup_id": "nope", "connect_params": 5, "payload": 5}),
        api.put(path, {"setup_id": setup_id, "connect_params": 5, "payload": 5}),
        api.put(path, {"connect_params": None, "payload": 5}),
    ]

    assert answers[0].error() == ("missing_setup_id", "'setup_id' must be a configuration id.")
    assert answers[1].status == 404 and answers[1].error()[0] == "unknown_configuration"
    assert answers[2].error() == ("invalid_connect_params", "'connect_params' must be an object of string values.")
    assert answers[3].error() == ("invalid_oauth_payload", "'payload' must be an object.")
