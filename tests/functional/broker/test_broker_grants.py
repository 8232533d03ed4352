"""Grants: one instance's access to one connection, with capabilities; one per connection and instance."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.broker_api import GRANT_FIELDS, ISO_MS_UTC, BrokerApi


@pytest.fixture
def instance(api: BrokerApi, customer: dict[str, Any]) -> dict[str, Any]:
    return api.new_instance(customer["id"])


@pytest.fixture
def connection(api: BrokerApi, customer: dict[str, Any]) -> dict[str, Any]:
    return api.new_connection(customer)


def test_can_grant_a_connection_to_an_instance(
    api: BrokerApi, customer: dict[str, Any], instance: dict[str, Any], connection: dict[str, Any]
) -> None:
    answer = api.grant(customer, connection["id"], instance["id"], ["read_roster", "publish_roster"])
    assert answer.status == 201, answer.body
    grant = answer.body
    assert set(grant) == GRANT_FIELDS
    assert uuid.UUID(grant["id"])
    assert grant["connection_id"] == connection["id"]
    assert grant["instance_id"] == instance["id"]
    assert grant["capabilities"] == ["read_roster", "publish_roster"]
    assert ISO_MS_UTC.match(grant["granted_at"])
    assert api.connection(customer, connection["id"])["grants"] == [grant]


def test_a_second_grant_for_the_same_instance_is_a_conflict(
    api: BrokerApi, customer: dict[str, Any], instance: dict[str, Any], connection: dict[str, Any]
) -> None:
    first = api.grant(customer, connection["id"], instance["id"], ["read"])
    second = api.grant(customer, connection["id"], instance["id"], ["read", "write"])
    assert second.status == 409
    assert first.body["id"] in second.detail()
    assert api.connection(customer, connection["id"])["grants"][0]["capabilities"] == ["read"]


def test_one_connection_can_be_granted_to_several_instances(
    api: BrokerApi, customer: dict[str, Any], instance: dict[str, Any], connection: dict[str, Any]
) -> None:
    other = api.new_instance(customer["id"], "second agent")
    assert api.grant(customer, connection["id"], instance["id"], ["read"]).status == 201
    assert api.grant(customer, connection["id"], other["id"], []).status == 201
    grants = api.connection(customer, connection["id"])["grants"]
    assert {g["instance_id"] for g in grants} == {instance["id"], other["id"]}


def test_an_instance_cannot_hold_two_connections_of_one_provider_and_name(
    api: BrokerApi, customer: dict[str, Any], instance: dict[str, Any], connection: dict[str, Any]
) -> None:
    namesake = api.new_connection(customer)  # same provider and name
    assert api.grant(customer, connection["id"], instance["id"], []).status == 201
    answer = api.grant(customer, namesake["id"], instance["id"], [])
    assert answer.status == 409
    assert "could not tell them apart" in answer.detail()


def test_the_instance_must_belong_to_the_same_customer(
    api: BrokerApi, customer: dict[str, Any], connection: dict[str, Any]
) -> None:
    other = api.new_customer("Other Co")
    theirs = api.new_instance(other["id"])
    answer = api.grant(customer, connection["id"], theirs["id"], ["read"])
    assert answer.status == 404
    assert "not found" in answer.detail()
    unknown = api.grant(customer, connection["id"], str(uuid.uuid4()), ["read"])
    assert unknown.status == 404


def test_granting_an_unknown_connection_is_404(
    api: BrokerApi, customer: dict[str, Any], instance: dict[str, Any]
) -> None:
    answer = api.grant(customer, str(uuid.uuid4()), instance["id"], ["read"])
    assert answer.status == 404
    assert answer.detail() == "Connection not found."


def test_grant_bodies_are_validated_in_fastapis_shape(
    api: BrokerApi, customer: dict[str, Any], connection: dict[str, Any]
) -> None:
    path = f"/{customer['id']}/connections/{connection['id']}/grants"
    missing = api.customer(customer["api_key"], "POST", path, {})
    assert missing.status == 422
    assert missing.detail() == [
        {"type": "missing", "loc": ["body", "capabilities"], "msg": "Field required"},
        {"type": "missing", "loc": ["body", "instance_id"], "msg": "Field required"},
    ]
    bad = api.customer(customer["api_key"], "POST", path, {"capabilities": "send_mail", "instance_id": "nope"})
    assert bad.status == 422
    assert [(i["type"], i["loc"]) for i in bad.detail()] == [
        ("list_type", ["body", "capabilities"]),
        ("uuid_parsing", ["body", "instance_id"]),
    ]


def test_grants_need_the_customers_key(
    api: BrokerApi, customer: dict[str, Any], instance: dict[str, Any], connection: dict[str, Any]
) -> None:
    other = api.new_customer("Other Co")
    path = f"/{customer['id']}/connections/{connection['id']}/grants"
    body = {"capabilities": [], "instance_id": instance["id"]}
    assert api.customer(None, "POST", path, body).status == 401
    assert api.customer(other["api_key"], "POST", path, body).status == 403


def test_can_delete_a_grant(
    api: BrokerApi, customer: dict[str, Any], instance: dict[str, Any], connection: dict[str, Any]
) -> None:
    grant = api.grant(customer, connection["id"], instance["id"], ["read"]).body
    path = f"/{customer['id']}/connections/{connection['id']}/grants/{grant['id']}"
    deleted = api.customer(customer["api_key"], "DELETE", path)
    assert deleted.status == 204
    assert api.connection(customer, connection["id"])["grants"] == []
    again = api.customer(customer["api_key"], "DELETE", path)
    assert again.status == 404
    assert again.detail() == "Grant not found."
    assert api.grant(customer, connection["id"], instance["id"], ["write"]).status == 201


def test_a_grant_of_another_connection_is_not_found(
    api: BrokerApi, customer: dict[str, Any], instance: dict[str, Any], connection: dict[str, Any]
) -> None:
    grant = api.grant(customer, connection["id"], instance["id"], ["read"]).body
    elsewhere = api.new_connection(customer, name="elsewhere")
    path = f"/{customer['id']}/connections/{elsewhere['id']}/grants/{grant['id']}"
    assert api.customer(customer["api_key"], "DELETE", path).status == 404
    assert len(api.connection(customer, connection["id"])["grants"]) == 1


def test_deleting_a_connection_removes_its_grants(
    api: BrokerApi, customer: dict[str, Any], instance: dict[str, Any], connection: dict[str, Any]
) -> None:
    from chalicelib.broker.models import Grant

    api.grant(customer, connection["id"], instance["id"], ["read"])
    assert len(list(Grant.query(instance["id"]))) == 1
    assert (
        api.customer(customer["api_key"], "DELETE", f"/{customer['id']}/connections/{connection['id']}").status == 204
    )
    assert list(Grant.query(instance["id"])) == []


def test_deleting_an_instance_removes_its_grants_from_connections(
    api: BrokerApi, customer: dict[str, Any], instance: dict[str, Any], connection: dict[str, Any]
) -> None:
    from chalicelib.broker.models import Grant

    api.grant(customer, connection["id"], instance["id"], ["read"])
    assert api.admin("DELETE", f"/customers/{customer['id']}/instances/{instance['id']}").status == 204
    assert api.connection(customer, connection["id"])["grants"] == []
    assert list(Grant.query(instance["id"])) == []
