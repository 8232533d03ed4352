"""The integrations REST API's front door: the secret key, integrations, and how malformed requests are refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.support.moto_stack import reread_settings
from tests.support.pizzly import PizzlyApi, basic, custom_integration, stored_configuration


def loopback_definition(name: str = "Acme", **auth: Any) -> dict[str, Any]:
    definition = custom_integration("http://127.0.0.1:9/token", **auth)
    definition["name"] = name
    return definition


# --- the secret key ---------------------------------------------------------------------------------


def test_a_request_without_authorization_is_refused_with_missing_secret_key(api: PizzlyApi) -> None:
    answer = api.get("/api/github", auth=False)

    assert answer.status == 401
    assert answer.error()[0] == "missing_secret_key"
    assert answer.header("WWW-Authenticate") == 'Basic realm="keyport"'
    assert TEST_SECRET_KEY not in answer.raw.decode()


def test_a_wrong_secret_key_is_refused_with_invalid_secret_key(api: PizzlyApi) -> None:
    answer = api.get("/api/github", auth=False, headers={"Authorization": basic("not-the-key")})

    assert answer.status == 401
    assert answer.error()[0] == "invalid_secret_key"
    assert TEST_SECRET_KEY not in answer.raw.decode()


def test_the_secret_key_as_password_instead_of_username_is_refused(api: PizzlyApi) -> None:
    answer = api.get("/api/github", auth=False, headers={"Authorization": basic("", TEST_SECRET_KEY)})

    assert answer.status == 401
    assert answer.error()[0] == "missing_secret_key"


@pytest.mark.parametrize(
    "header",
    ["Basic", "Basic !!!not-base64!!!", "Bearer " + TEST_SECRET_KEY, TEST_SECRET_KEY, "Basic " + "//79/w=="],
    ids=["no-credentials", "not-base64", "bearer-scheme", "bare-key", "not-utf8"],
)
def test_a_malformed_basic_header_is_refused_with_401(api: PizzlyApi, header: str) -> None:
    answer = api.get("/api/github", auth=False, headers={"Authorization": header})

    assert answer.status == 401
    assert answer.error()[0] == "missing_secret_key"


def test_the_secret_key_with_any_password_is_accepted(api: PizzlyApi) -> None:
    answer = api.get("/api", auth=False, headers={"Authorization": basic(TEST_SECRET_KEY, "ignored")})

    assert answer.status == 200


def test_a_server_without_secret_key_is_closed_and_says_no_key_is_configured(
    api: PizzlyApi, settings_env: pytest.MonkeyPatch
) -> None:
    settings_env.delenv("SECRET_KEY")
    reread_settings()

    for answer in (api.get("/api"), api.get("/api/github", auth=False), api.post("/api/github/configurations", {})):
        assert answer.status == 401
        kind, message = answer.error()
        assert kind == "missing_secret_key"
        assert "no secret key configured" in message
    assert api.get("/api/github/configurations").body["error"]["type"] == "missing_secret_key"


def test_the_api_root_confirms_that_the_key_works(api: PizzlyApi) -> None:
    answer = api.get("/api")

    assert answer.status == 200
    assert answer.body["object"] == "keyport"
    assert "secret key works" in answer.body["message"]
    assert answer.header("Content-Type") == "application/json"


# --- integrations -----------------------------------------------------------------------------------


def test_a_builtin_integration_is_shown_with_object_id_name_auth_and_request(api: PizzlyApi) -> None:
    answer = api.get("/api/github")

    assert answer.status == 200
    body = answer.body
    assert body["object"] == "integration"
    assert body["id"] == "github"
    assert body["name"] == "GitHub"
    assert body["source"] == "builtin"
    assert body["auth"]["authType"] == "OAUTH2"
    assert body["auth"]["tokenURL"] == "https://github.com/login/oauth/access_token"
    assert body["request"]["baseURL"] == "https://api.github.com/"
    assert body["request"]["headers"]["Authorization"] == "token ${auth.accessToken}"


def test_an_unknown_integration_is_404_unknown_integration(api: PizzlyApi) -> None:
    answer = api.get("/api/no-such-provider")

    assert answer.status == 404
    kind, message = answer.error()
    assert kind == "unknown_integration"
    assert "no-such-provider" in message


@pytest.mark.parametrize("integration", ["GitHub", "git.hub", "-github", "_github", "a" * 65, "git%24hub"])
def test_an_integration_id_with_invalid_characters_is_404(api: PizzlyApi, integration: str) -> None:
    answer = api.get(f"/api/{integration}")

    assert answer.status == 404
    assert answer.error()[0] == "unknown_integration"


def test_putting_a_custom_integration_creates_it_then_replaces_it(api: PizzlyApi) -> None:
    from chalicelib.oauth.models import CustomIntegration

    created = api.put("/api/acme", loopback_definition("Acme"))

    assert created.status == 201
    assert created.body["message"] == "Integration created"
    assert created.body["integration"]["id"] == "acme"
    assert created.body["integration"]["object"] == "integration"
    assert created.body["integration"]["source"] == "custom"
    first = CustomIntegration.get("acme", consistent_read=True)

    replaced = api.put("/api/acme", loopback_definition("Acme Two", tokenParams={"audience": "x"}))

    assert replaced.status == 200
    assert replaced.body["message"] == "Integration updated"
    shown = api.get("/api/acme").body
    assert shown["name"] == "Acme Two"
    assert shown["auth"]["tokenParams"] == {"audience": "x"}
    assert shown["source"] == "custom"
    second = CustomIntegration.get("acme", consistent_read=True)
    assert second.created_at == first.created_at
    assert second.definition["name"] == "Acme Two"


def test_putting_an_integration_drops_the_read_only_fields_of_a_shown_one(api: PizzlyApi) -> None:
    shown = api.get("/api/github").body
    shown["name"] = "GitHub copy"

    answer = api.put("/api/github-copy", shown)

    assert answer.status == 201, answer.body
    assert api.get("/api/github-copy").body["id"] == "github-copy"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["auth"].update(authType="OAUTH3"), "auth.authType"),
        (lambda d: d["auth"].update(tokenURL="http://example.com/token"), "auth.tokenURL"),
        (lambda d: d["request"].update(baseURL="ftp://127.0.0.1/"), "request.baseURL"),
        (lambda d: d.update(colour="blue"), "colour"),
        (lambda d: d["auth"].update(secretSauce=True), "auth.secretSauce"),
        (lambda d: d["request"]["headers"].update(Authorization="Bearer ${secrets.token}"), "secrets"),
        (lambda d: d["request"]["headers"].update(Authorization="Bearer ${auth.accessToken"), "malformed"),
        (lambda d: d["auth"].update(tokenURL="https://${auth.accessToken}.example.com/token"), "auth.tokenURL"),
        (lambda d: d.pop("name"), "name"),
        (lambda d: d["auth"].update(bodyFormat="xml"), "auth.bodyFormat"),
    ],
    ids=[
        "bad-auth-type",
        "http-non-loopback",
        "ftp-base-url",
        "unknown-top-field",
        "unknown-auth-field",
        "unknown-placeholder-scope",
        "unclosed-placeholder",
        "auth-placeholder-in-url",
        "no-name",
        "bad-body-format",
    ],
)
def test_an_invalid_integration_is_400_invalid_integration_and_nothing_is_stored(
    api: PizzlyApi, change: Any, named: str
) -> None:
    definition = loopback_definition()
    change(definition)

    answer = api.put("/api/acme", definition)

    assert answer.status == 400
    kind, message = answer.error()
    assert kind == "invalid_integration"
    assert named in message
    assert api.get("/api/acme").status == 404


def test_an_integration_body_that_is_not_an_object_is_refused(api: PizzlyApi) -> None:
    answer = api.put("/api/acme", ["not", "an", "object"])

    assert answer.status == 400
    assert answer.error()[0] == "invalid_json"
    assert api.get("/api/acme").status == 404


def test_putting_an_integration_under_an_invalid_id_is_400(api: PizzlyApi) -> None:
    answer = api.put("/api/Acme", loopback_definition())

    assert answer.status == 400
    assert answer.error()[0] == "invalid_integration"


def test_replacing_a_builtin_then_deleting_the_replacement_restores_the_builtin(api: PizzlyApi) -> None:
    replaced = api.put("/api/github", loopback_definition("GitHub Enterprise"))

    assert replaced.status in (200, 201)
    shown = api.get("/api/github").body
    assert shown["name"] == "GitHub Enterprise"
    assert shown["source"] == "custom"
    assert shown["auth"]["tokenURL"] == "http://127.0.0.1:9/token"

    removed = api.delete("/api/github")

    assert removed.status == 200
    assert removed.body == {"message": "Integration removed"}
    restored = api.get("/api/github").body
    assert restored["name"] == "GitHub"
    assert restored["source"] == "builtin"
    assert restored["auth"]["tokenURL"] == "https://github.com/login/oauth/access_token"


def test_deleting_a_builtin_only_integration_is_400_builtin_integration(api: PizzlyApi) -> None:
    answer = api.delete("/api/github")

    assert answer.status == 400
    assert answer.error()[0] == "builtin_integration"
    assert api.get("/api/github").body["source"] == "builtin"


def test_deleting_an_unknown_integration_is_404(api: PizzlyApi) -> None:
    answer = api.delete("/api/no-such-provider")

    assert answer.status == 404
    assert answer.error()[0] == "unknown_integration"


def test_deleting_a_custom_integration_twice_is_404_the_second_time(api: PizzlyApi) -> None:
    assert api.put("/api/acme", loopback_definition()).status == 201

    assert api.delete("/api/acme").status == 200
    assert api.get("/api/acme").status == 404
    assert api.delete("/api/acme").status == 404


# --- methods and bodies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/api/github", {"DELETE", "GET", "PUT"}),
        ("POST", "/api/github", {"DELETE", "GET", "PUT"}),
        ("DELETE", "/api/github/configurations", {"GET", "POST"}),
        ("PATCH", "/api/github/authentications/some-id", {"DELETE", "GET", "PUT"}),
        ("DELETE", "/api", {"GET"}),
    ],
)
def test_an_unsupported_method_is_405_in_the_pizzly_body_with_an_allow_header(
    api: PizzlyApi, method: str, path: str, allowed: set[str]
) -> None:
    answer = api.request(method, path)

    assert answer.status == 405
    kind, message = answer.error()
    assert kind == "method_not_allowed"
    assert method in message
    allow = answer.header("Allow")
    assert allow is not None
    assert {m.strip() for m in allow.split(",")} == allowed


def test_malformed_json_is_400_invalid_json_and_nothing_is_stored(api: PizzlyApi) -> None:
    answer = api.post(
        "/api/github/configurations", raw='{"credentials": {', headers={"Content-Type": "application/json"}
    )

    assert answer.status == 400
    kind, message = answer.error()
    assert kind == "invalid_json"
    assert "line 1" in message
    assert api.get("/api/github/configurations").body["data"] == []


def test_invalid_json_on_put_integration_is_400_invalid_json(api: PizzlyApi) -> None:
    answer = api.put("/api/acme", raw="{name: 'Acme'}", headers={"Content-Type": "application/json"})

    assert answer.status == 400
    assert answer.error()[0] == "invalid_json"


def test_a_text_plain_body_is_415_and_nothing_is_stored(api: PizzlyApi) -> None:
    body = json.dumps({"credentials": {"clientId": "client-id-0123456789", "clientSecret": "secret-0123456789"}})

    answer = api.post("/api/github/configurations", raw=body, headers={"Content-Type": "text/plain"})

    assert answer.status == 415
    assert answer.error()[0] == "unsupported_media_type"
    assert api.get("/api/github/configurations").body["data"] == []


def test_a_body_over_max_body_bytes_is_413_and_nothing_is_stored(
    api: PizzlyApi, settings_env: pytest.MonkeyPatch
) -> None:
    settings_env.setenv("MAX_BODY_BYTES", "200")
    reread_settings()
    small = {"credentials": {"clientId": "client-id-0123456789", "clientSecret": "secret-0123456789"}}
    big = {**small, "scopes": ["scope-" + str(i) for i in range(40)]}
    assert len(json.dumps(small)) < 200 < len(json.dumps(big))

    refused = api.post("/api/github/configurations", big)

    assert refused.status == 413
    kind, message = refused.error()
    assert kind == "payload_too_large"
    assert "200" in message
    assert api.get("/api/github/configurations").body["data"] == []
    assert api.post("/api/github/configurations", small).status == 201


def test_an_oversized_body_is_refused_before_authentication_and_before_routing(
    api: PizzlyApi, settings_env: pytest.MonkeyPatch
) -> None:
    settings_env.setenv("MAX_BODY_BYTES", "16")
    reread_settings()

    answer = api.put("/api/acme", loopback_definition(), auth=False)

    assert answer.status == 413
    assert answer.error()[0] == "payload_too_large"


def test_a_configuration_stored_through_put_integration_is_unaffected_by_replacing_the_integration(
    api: PizzlyApi,
) -> None:
    assert api.put("/api/acme", loopback_definition()).status == 201
    setup = api.configuration("acme")

    assert api.put("/api/acme", loopback_definition("Acme v2")).status == 200

    assert api.get(f"/api/acme/configurations/{setup['id']}").status == 200
    assert stored_configuration(setup["id"]).integration == "acme"
