"""The runtime credential fetch: every refusal, the audit trail, and what a warm fetch costs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.broker_api import ISO_MS_UTC, BrokerApi

API_KEY = "dk_live_fetch_secret_0123456789"


@pytest.fixture
def world(api: BrokerApi) -> dict[str, Any]:
    """A customer, one instance, and a deputy connection granted to it with read_roster."""
    customer = api.new_customer()
    instance = api.new_instance(customer["id"])
    connection = api.new_connection(
        customer, name="IQM Master Roster", provider="deputy", credentials={"api_key": API_KEY}
    )
    grant = api.grant(customer, connection["id"], instance["id"], ["read_roster"]).body
    return {"customer": customer, "instance": instance, "connection": connection, "grant": grant}


def _fetch(api: BrokerApi, world: dict[str, Any], key: str | None = "", **params: str) -> Any:
    instance = world["instance"]
    return api.fetch(instance["id"], instance["proxy_key"] if key == "" else key, **params)


def test_a_granted_instance_gets_the_decrypted_credentials(api: BrokerApi, world: dict[str, Any]) -> None:
    answer = _fetch(api, world, provider="deputy", capability="read_roster")
    assert answer.status == 200, answer.body
    assert answer.body == {"credentials": {"api_key": API_KEY}, "capabilities": ["read_roster"]}
    assert answer.header("Cache-Control") == "no-store"


def test_name_selects_the_connection(api: BrokerApi, world: dict[str, Any]) -> None:
    assert _fetch(api, world, provider="deputy", name="IQM Master Roster").status == 200
    missing = _fetch(api, world, provider="deputy", name="Another Roster")
    assert missing.status == 404
    assert missing.detail() == "No 'deputy' connection named 'Another Roster' is granted to this instance."


def test_a_fetch_sets_last_used_at(api: BrokerApi, world: dict[str, Any]) -> None:
    assert api.connection(world["customer"], world["connection"]["id"])["last_used_at"] is None
    _fetch(api, world, provider="deputy")
    used = api.connection(world["customer"], world["connection"]["id"])["last_used_at"]
    assert used is not None and ISO_MS_UTC.match(used)


def test_no_proxy_key_is_401(api: BrokerApi, world: dict[str, Any]) -> None:
    answer = _fetch(api, world, key=None, provider="deputy")
    assert answer.status == 401
    assert answer.detail() == "Not authenticated"
    assert answer.header("WWW-Authenticate") == "Bearer"


def test_another_instances_key_is_401(api: BrokerApi, world: dict[str, Any]) -> None:
    other = api.new_instance(world["customer"]["id"], "other agent")
    answer = _fetch(api, world, key=other["proxy_key"], provider="deputy")
    assert answer.status == 401
    assert answer.detail() == "Invalid proxy key"


def test_another_customers_instance_key_is_401(api: BrokerApi, world: dict[str, Any]) -> None:
    stranger = api.new_customer("Stranger")
    theirs = api.new_instance(stranger["id"])
    assert _fetch(api, world, key=theirs["proxy_key"], provider="deputy").status == 401
    assert _fetch(api, world, key=world["customer"]["api_key"], provider="deputy").status == 401


def test_an_unknown_instance_is_401(api: BrokerApi, world: dict[str, Any]) -> None:
    answer = api.fetch(str(uuid.uuid4()), world["instance"]["proxy_key"], provider="deputy")
    assert answer.status == 401


def test_a_rotated_proxy_key_stops_working_at_once(api: BrokerApi, world: dict[str, Any]) -> None:
    customer, instance = world["customer"], world["instance"]
    rotated = api.admin("POST", f"/customers/{customer['id']}/instances/{instance['id']}/rotate-key").body
    assert _fetch(api, world, provider="deputy").status == 401
    assert api.fetch(instance["id"], rotated["proxy_key"], provider="deputy").status == 200


def test_a_deleted_instance_is_401(api: BrokerApi, world: dict[str, Any]) -> None:
    customer, instance = world["customer"], world["instance"]
    api.admin("DELETE", f"/customers/{customer['id']}/instances/{instance['id']}")
    assert _fetch(api, world, provider="deputy").status == 401


def test_a_revoked_grant_is_404_at_once(api: BrokerApi, world: dict[str, Any]) -> None:
    customer, connection, grant = world["customer"], world["connection"], world["grant"]
    api.customer(
        customer["api_key"], "DELETE", f"/{customer['id']}/connections/{connection['id']}/grants/{grant['id']}"
    )
    answer = _fetch(api, world, provider="deputy")
    assert answer.status == 404
    assert answer.detail() == "No 'deputy' connection is granted to this instance."


def test_a_deleted_connection_is_404(api: BrokerApi, world: dict[str, Any]) -> None:
    customer, connection = world["customer"], world["connection"]
    api.customer(customer["api_key"], "DELETE", f"/{customer['id']}/connections/{connection['id']}")
    assert _fetch(api, world, provider="deputy").status == 404


def test_a_connection_of_another_provider_is_404(api: BrokerApi, world: dict[str, Any]) -> None:
    assert _fetch(api, world, provider="xero").status == 404
    assert _fetch(api, world, provider="x" * 2000).status == 404


def test_a_missing_capability_is_403(api: BrokerApi, world: dict[str, Any]) -> None:
    answer = _fetch(api, world, provider="deputy", capability="publish_roster")
    assert answer.status == 403
    assert answer.detail() == "The grant does not include the capability 'publish_roster'."


def test_an_ungranted_connection_of_the_same_customer_is_404(api: BrokerApi, world: dict[str, Any]) -> None:
    api.new_connection(world["customer"], provider="xero", credentials={"api_key": "x"})
    assert _fetch(api, world, provider="xero").status == 404


def test_two_granted_connections_of_one_provider_need_a_name(api: BrokerApi, world: dict[str, Any]) -> None:
    customer, instance = world["customer"], world["instance"]
    second = api.new_connection(customer, name="Second Roster", credentials={"api_key": "second-key"})
    assert api.grant(customer, second["id"], instance["id"], []).status == 201
    ambiguous = _fetch(api, world, provider="deputy")
    assert ambiguous.status == 409
    assert "pass name" in ambiguous.detail()
    named = _fetch(api, world, provider="deputy", name="Second Roster")
    assert named.body == {"credentials": {"api_key": "second-key"}, "capabilities": []}


def test_provider_is_required_after_authentication(api: BrokerApi, world: dict[str, Any]) -> None:
    assert _fetch(api, world, key=None).status == 401
    answer = _fetch(api, world)
    assert answer.status == 422
    assert answer.detail() == [{"type": "missing", "loc": ["query", "provider"], "msg": "Field required"}]


def test_a_non_uuid_instance_id_is_422(api: BrokerApi) -> None:
    answer = api.fetch("instance-1", "kpi_whatever", provider="deputy")
    assert answer.status == 422
    [item] = answer.detail()
    assert item["loc"] == ["path", "instance_id"] and item["type"] == "uuid_parsing"


def test_basic_credentials_are_returned_whole(api: BrokerApi, world: dict[str, Any]) -> None:
    customer, instance = world["customer"], world["instance"]
    connection = api.new_connection(
        customer,
        provider="smtp",
        auth_type="basic",
        credentials={"username": "mailer", "password": "pw-0123456789", "host": "smtp.example.com"},
    )
    api.grant(customer, connection["id"], instance["id"], ["send_mail"])
    answer = api.fetch(instance["id"], instance["proxy_key"], provider="smtp", capability="send_mail")
    assert answer.body["credentials"] == {"username": "mailer", "password": "pw-0123456789", "host": "smtp.example.com"}


# --- audit --------------------------------------------------------------------------------------------


def test_every_fetch_is_in_the_connections_audit_trail(api: BrokerApi, world: dict[str, Any]) -> None:
    customer, connection, instance = world["customer"], world["connection"], world["instance"]
    _fetch(api, world, provider="deputy", capability="read_roster")
    _fetch(api, world, provider="deputy", capability="publish_roster")
    answer = api.audit(customer, connection["id"])
    assert answer.status == 200
    entries = answer.body["entries"]
    assert answer.body["next_cursor"] is None
    assert [(e["outcome"], e["status_code"], e["capability"]) for e in entries] == [
        ("missing_capability", 403, "publish_roster"),
        ("granted", 200, "read_roster"),
    ]
    for entry in entries:
        assert set(entry) == {
            "id",
            "at",
            "instance_id",
            "connection_id",
            "provider",
            "name",
            "capability",
            "outcome",
            "status_code",
        }
        assert entry["instance_id"] == instance["id"]
        assert entry["connection_id"] == connection["id"]
        assert entry["provider"] == "deputy"
        assert ISO_MS_UTC.match(entry["at"])


def test_the_audit_trail_is_paged(api: BrokerApi, world: dict[str, Any]) -> None:
    for _ in range(3):
        _fetch(api, world, provider="deputy")
    first = api.audit(world["customer"], world["connection"]["id"], limit="2")
    assert len(first.body["entries"]) == 2 and first.body["next_cursor"]
    rest = api.audit(world["customer"], world["connection"]["id"], limit="2", cursor=first.body["next_cursor"])
    assert len(rest.body["entries"]) == 1 and rest.body["next_cursor"] is None
    ids = [e["id"] for e in first.body["entries"] + rest.body["entries"]]
    assert len(set(ids)) == 3


def test_the_audit_trail_is_the_customers_alone(api: BrokerApi, world: dict[str, Any]) -> None:
    stranger = api.new_customer("Stranger")
    path = f"/{world['customer']['id']}/connections/{world['connection']['id']}/audit"
    assert api.customer(stranger["api_key"], "GET", path).status == 403
    assert api.customer(None, "GET", path).status == 401
    assert api.audit(world["customer"], str(uuid.uuid4())).status == 404


def test_audit_query_parameters_are_validated(api: BrokerApi, world: dict[str, Any]) -> None:
    answer = api.audit(world["customer"], world["connection"]["id"], limit="many")
    assert answer.status == 422
    assert answer.detail() == [
        {
            "type": "int_parsing",
            "loc": ["query", "limit"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
        }
    ]


# --- cost ---------------------------------------------------------------------------------------------


def test_a_warm_fetch_reads_two_items_and_calls_no_kms(api: BrokerApi, world: dict[str, Any]) -> None:
    from bench.calls import counting_aws_calls
    from chalicelib import crypto

    _fetch(api, world, provider="deputy")  # warms the key cache
    kms_before = crypto.keyring.kms_calls
    with counting_aws_calls() as calls:
        answer = _fetch(api, world, provider="deputy", capability="read_roster")
    assert answer.status == 200
    assert crypto.keyring.kms_calls == kms_before
    assert dict(calls) == {
        "dynamodb.GetItem": 1,  # the instance, by the path's id
        "dynamodb.Query": 1,  # its grants of the provider, credentials included
        "dynamodb.PutItem": 1,  # the audit entry (last_used_at was set by the fetch before, under a minute ago)
    }
