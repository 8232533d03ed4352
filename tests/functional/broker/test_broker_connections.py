"""The customer API's connections: listing, creating, deleting, validation in FastAPI's shape, and keys."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest

from tests.support.broker_api import CONNECTION_FIELDS, ISO_MS_UTC, BrokerApi


def test_a_new_customer_has_no_connections(api: BrokerApi, customer: dict[str, Any]) -> None:
    answer = api.customer(customer["api_key"], "GET", f"/{customer['id']}/connections")
    assert answer.status == 200
    assert answer.body == {"connections": [], "total": 0}


def test_can_create_a_connection_and_list_it_with_documented_fields(api: BrokerApi, customer: dict[str, Any]) -> None:
    answer = api.customer(
        customer["api_key"],
        "POST",
        f"/{customer['id']}/connections",
        {
            "name": "IQM Master Roster",
            "provider": "deputy",
            "auth_type": "api_key",
            "credentials": {"api_key": "dk_live_secret_value_123"},
            "scopes": ["roster.read"],
            "metadata_json": {"region": "au"},
        },
    )
    assert answer.status == 201, answer.body
    created = answer.body
    assert set(created) == CONNECTION_FIELDS
    assert uuid.UUID(created["id"])
    assert created["customer_id"] == customer["id"]
    assert created["name"] == "IQM Master Roster"
    assert created["provider"] == "deputy"
    assert created["auth_type"] == "api_key"
    assert created["scopes"] == ["roster.read"]
    assert created["status"] == "active"
    assert created["grants"] == []
    assert created["error_message"] is None
    assert created["expires_at"] is None
    assert created["last_used_at"] is None
    assert ISO_MS_UTC.match(created["created_at"]) and ISO_MS_UTC.match(created["updated_at"])
    listed = api.customer(customer["api_key"], "GET", f"/{customer['id']}/connections")
    assert listed.body == {"connections": [created], "total": 1}


def test_auth_type_defaults_to_oauth2_and_expiry_comes_from_the_credentials(
    api: BrokerApi, customer: dict[str, Any]
) -> None:
    answer = _create(
        api,
        customer,
        {
            "name": "n",
            "provider": "xero",
            "credentials": {"access_token": "at-1", "expires_at": "2030-01-02T03:04:05Z"},
        },
    )
    assert answer.status == 201, answer.body
    created = answer.body
    assert created["auth_type"] == "oauth2"
    assert created["expires_at"] == "2030-01-02T03:04:05.000Z"


def test_connections_are_listed_newest_first(api: BrokerApi, customer: dict[str, Any]) -> None:
    first = api.new_connection(customer, name="first")
    second = api.new_connection(customer, name="second")
    listed = api.connections(customer)
    assert [c["id"] for c in listed] in ([second["id"], first["id"]], [first["id"], second["id"]])
    assert listed[0]["created_at"] >= listed[1]["created_at"]


def test_credentials_are_sealed_at_rest_and_never_returned(api: BrokerApi, customer: dict[str, Any]) -> None:
    from chalicelib.broker.models import Connection

    secret = "dk_live_never_shown_" + uuid.uuid4().hex
    created = api.new_connection(customer, credentials={"api_key": secret})
    assert secret not in str(created)
    assert secret not in api.customer(customer["api_key"], "GET", f"/{customer['id']}/connections").raw.decode()
    stored = Connection.get(customer["id"], created["id"])
    assert secret.encode() not in stored.credentials
    assert stored.credentials.startswith(b"KP1")


def test_x_api_key_header_works_like_the_bearer_token(api: BrokerApi, customer: dict[str, Any]) -> None:
    answer = api.customer(customer["api_key"], "GET", f"/{customer['id']}/connections", header="x-api-key")
    assert answer.status == 200


def test_no_key_or_an_unknown_key_is_401(api: BrokerApi, customer: dict[str, Any]) -> None:
    missing = api.customer(None, "GET", f"/{customer['id']}/connections")
    assert missing.status == 401
    assert missing.detail() == "Not authenticated"
    assert missing.header("WWW-Authenticate") == "Bearer"
    unknown = api.customer("kpc_not-a-key", "GET", f"/{customer['id']}/connections")
    assert unknown.status == 401
    assert unknown.detail() == "Invalid API key"


def test_a_key_used_on_another_customers_path_is_403(api: BrokerApi, customer: dict[str, Any]) -> None:
    other = api.new_customer("Other Co")
    for method, path in (
        ("GET", f"/{other['id']}/connections"),
        ("POST", f"/{other['id']}/connections"),
        ("DELETE", f"/{other['id']}/connections/{uuid.uuid4()}"),
    ):
        answer = api.customer(customer["api_key"], method, path, {"name": "x", "provider": "y", "credentials": {}})
        assert answer.status == 403, (method, answer.body)
        assert isinstance(answer.detail(), str)
    unknown_customer = api.customer(customer["api_key"], "GET", f"/{uuid.uuid4()}/connections")
    assert unknown_customer.status == 403


def test_a_rotated_customer_key_stops_working_at_once(api: BrokerApi, customer: dict[str, Any]) -> None:
    rotated = api.admin("POST", f"/customers/{customer['id']}/rotate-key")
    assert rotated.status == 200
    assert api.customer(customer["api_key"], "GET", f"/{customer['id']}/connections").status == 401
    assert api.customer(rotated.body["api_key"], "GET", f"/{customer['id']}/connections").status == 200


def test_the_api_key_is_stored_only_as_its_hash(api: BrokerApi, customer: dict[str, Any]) -> None:
    from chalicelib.broker.models import Customer

    stored = Customer.get(customer["id"])
    assert stored.key_hash == hashlib.sha256(customer["api_key"].encode()).hexdigest()
    assert customer["api_key"] not in str(stored.attribute_values)


def test_deleting_a_connection_answers_204_then_404(api: BrokerApi, customer: dict[str, Any]) -> None:
    created = api.new_connection(customer)
    path = f"/{customer['id']}/connections/{created['id']}"
    deleted = api.customer(customer["api_key"], "DELETE", path)
    assert deleted.status == 204
    assert deleted.raw == b""
    assert api.connections(customer) == []
    again = api.customer(customer["api_key"], "DELETE", path)
    assert again.status == 404
    assert again.detail() == "Connection not found."


def test_another_customers_connection_cannot_be_deleted(api: BrokerApi, customer: dict[str, Any]) -> None:
    other = api.new_customer("Other Co")
    theirs = api.new_connection(other)
    answer = api.customer(customer["api_key"], "DELETE", f"/{customer['id']}/connections/{theirs['id']}")
    assert answer.status == 404
    assert len(api.connections(other)) == 1


# --- validation ---------------------------------------------------------------------------------------


def _create(api: BrokerApi, customer: dict[str, Any], body: Any = None, raw: bytes | None = None) -> Any:
    return api.customer(customer["api_key"], "POST", f"/{customer['id']}/connections", body, raw=raw)


def test_missing_fields_are_422_in_fastapis_shape(api: BrokerApi, customer: dict[str, Any]) -> None:
    answer = _create(api, customer, {"provider": "deputy"})
    assert answer.status == 422
    assert answer.detail() == [
        {"type": "missing", "loc": ["body", "credentials"], "msg": "Field required"},
        {"type": "missing", "loc": ["body", "name"], "msg": "Field required"},
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"name": "n" * 256, "provider": "deputy", "credentials": {}, "auth_type": "api_key"},
            {"type": "string_too_long", "loc": ["body", "name"], "msg": "String should have at most 255 characters"},
        ),
        (
            {"name": "n", "provider": "p" * 51, "credentials": {"access_token": "a"}},
            {"type": "string_too_long", "loc": ["body", "provider"], "msg": "String should have at most 50 characters"},
        ),
        (
            {"name": "n", "provider": "p", "credentials": {}, "auth_type": "oauth1"},
            {
                "type": "literal_error",
                "loc": ["body", "auth_type"],
                "msg": "Input should be 'oauth2', 'api_key' or 'basic'",
            },
        ),
        (
            {"name": "n", "provider": "p", "credentials": ["x"]},
            {"type": "dict_type", "loc": ["body", "credentials"], "msg": "Input should be a valid dictionary"},
        ),
        (
            {"name": "n", "provider": "p", "credentials": {"access_token": "a"}, "scopes": [1]},
            {"type": "string_type", "loc": ["body", "scopes", 0], "msg": "Input should be a valid string"},
        ),
    ],
)
def test_invalid_fields_are_422_with_their_location(
    api: BrokerApi, customer: dict[str, Any], body: dict[str, Any], expected: dict[str, Any]
) -> None:
    answer = _create(api, customer, body)
    assert answer.status == 422
    assert answer.detail() == [expected]


@pytest.mark.parametrize(
    ("auth_type", "credentials", "missing"),
    [
        ("api_key", {}, ["api_key"]),
        ("api_key", {"key": "k"}, ["api_key"]),
        ("basic", {"username": "u"}, ["password"]),
        ("basic", {}, ["username", "password"]),
        ("oauth2", {"refresh_token": "r"}, ["access_token"]),
        ("oauth2", {"access_token": "a", "client_id": "c"}, ["client_secret"]),
    ],
)
def test_required_credential_fields_are_checked_per_auth_type(
    api: BrokerApi, customer: dict[str, Any], auth_type: str, credentials: dict[str, Any], missing: list[str]
) -> None:
    answer = _create(
        api, customer, {"name": "n", "provider": "deputy", "auth_type": auth_type, "credentials": credentials}
    )
    assert answer.status == 422, answer.body
    assert answer.detail() == [
        {"type": "missing", "loc": ["body", "credentials", name], "msg": "Field required"} for name in missing
    ]


def test_a_refresh_token_needs_a_catalog_provider(api: BrokerApi, customer: dict[str, Any]) -> None:
    answer = _create(
        api,
        customer,
        {
            "name": "n",
            "provider": "no-such-provider",
            "credentials": {"access_token": "a", "refresh_token": "r", "client_id": "c", "client_secret": "s"},
        },
    )
    assert answer.status == 422
    [item] = answer.detail()
    assert item["loc"] == ["body", "provider"] and item["type"] == "value_error"
    assert item["msg"].startswith("Value error, a refresh token needs a provider")


def test_a_refresh_token_needs_client_credentials_or_a_configuration(api: BrokerApi, customer: dict[str, Any]) -> None:
    answer = _create(
        api, customer, {"name": "n", "provider": "gmail", "credentials": {"access_token": "a", "refresh_token": "r"}}
    )
    assert answer.status == 422
    [item] = answer.detail()
    assert item["loc"] == ["body", "credentials"] and item["type"] == "value_error"
    assert "'google-mail'" in item["msg"]


def test_a_known_provider_configuration_makes_a_refresh_token_acceptable(
    api: BrokerApi, customer: dict[str, Any]
) -> None:
    configured = api.request(
        "POST",
        "/api/google-mail/configurations",
        {"credentials": {"clientId": "cid-123456789", "clientSecret": "csecret-123456789"}},
        headers={"Authorization": "Basic " + __import__("base64").b64encode(b"test-secret-key-0123456789:").decode()},
    )
    assert configured.status == 201, configured.body
    created = api.new_connection(
        customer, provider="gmail", auth_type="oauth2", credentials={"access_token": "a", "refresh_token": "r"}
    )
    assert created["status"] == "active"


def test_validation_errors_never_echo_the_input(api: BrokerApi, customer: dict[str, Any]) -> None:
    secret = "sk_do_not_echo_" + uuid.uuid4().hex
    answer = _create(api, customer, {"name": "n" * 300, "provider": "p", "credentials": {"password": secret}})
    assert answer.status == 422
    assert secret not in answer.raw.decode()
    assert all(set(item) == {"type", "loc", "msg"} for item in answer.detail())


def test_a_non_uuid_path_id_is_422_before_authentication(api: BrokerApi) -> None:
    answer = api.customer(None, "GET", "/not-a-uuid/connections")
    assert answer.status == 422
    assert answer.detail() == [
        {
            "type": "uuid_parsing",
            "loc": ["path", "customer_id"],
            "msg": "Input should be a valid UUID, invalid character: found `n` at 0",
        }
    ]


def test_a_non_uuid_connection_id_is_422(api: BrokerApi, customer: dict[str, Any]) -> None:
    answer = api.customer(customer["api_key"], "DELETE", f"/{customer['id']}/connections/1234")
    assert answer.status == 422
    [item] = answer.detail()
    assert item["loc"] == ["path", "connection_id"] and item["type"] == "uuid_parsing"
    assert item["msg"].startswith("Input should be a valid UUID, ")


def test_an_uppercase_uuid_is_the_same_customer(api: BrokerApi, customer: dict[str, Any]) -> None:
    answer = api.customer(customer["api_key"], "GET", f"/{customer['id'].upper()}/connections")
    assert answer.status == 200


def test_malformed_json_is_422_json_invalid(api: BrokerApi, customer: dict[str, Any]) -> None:
    answer = _create(api, customer, raw=b'{"name": ')
    assert answer.status == 422
    assert answer.detail() == [{"type": "json_invalid", "loc": ["body", 9], "msg": "JSON decode error"}]


def test_a_body_that_is_not_an_object_is_422(api: BrokerApi, customer: dict[str, Any]) -> None:
    answer = _create(api, customer, raw=b"[1, 2]")
    assert answer.status == 422
    assert answer.detail() == [
        {
            "type": "model_attributes_type",
            "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from",
        }
    ]


def test_a_missing_body_is_422_missing(api: BrokerApi, customer: dict[str, Any]) -> None:
    answer = api.customer(customer["api_key"], "POST", f"/{customer['id']}/connections")
    assert answer.status == 422
    assert answer.detail() == [{"type": "missing", "loc": ["body"], "msg": "Field required"}]


def test_other_errors_are_a_detail_string(api: BrokerApi, customer: dict[str, Any]) -> None:
    answer = api.customer(customer["api_key"], "PUT", f"/{customer['id']}/connections")
    assert answer.status == 405
    assert isinstance(answer.detail(), str)
