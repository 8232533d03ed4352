"""The operators' side of the broker: customers and instances, their keys, and deleting them."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest

from tests.support.broker_api import ISO_MS_UTC, UUID_RE, BrokerApi


def test_creating_a_customer_shows_its_api_key_once(api: BrokerApi) -> None:
    answer = api.admin("POST", "/customers", {"name": "Acme Pty Ltd"})
    assert answer.status == 201
    assert set(answer.body) == {"id", "name", "api_key", "created_at"}
    assert UUID_RE.match(answer.body["id"])
    assert answer.body["name"] == "Acme Pty Ltd"
    assert answer.body["api_key"].startswith("kpc_") and len(answer.body["api_key"]) > 40
    assert ISO_MS_UTC.match(answer.body["created_at"])
    assert answer.header("Cache-Control") == "no-store"
    shown = api.admin("GET", f"/customers/{answer.body['id']}")
    assert shown.status == 200
    assert shown.body == {k: v for k, v in answer.body.items() if k != "api_key"}


def test_operator_routes_need_the_secret_key(api: BrokerApi) -> None:
    answer = api.request("POST", "/admin/customers", {"name": "x"})
    assert answer.status == 401
    assert answer.error()[0] == "missing_secret_key"
    wrong = api.admin("GET", "/customers", secret_key="not-the-key")
    assert wrong.status == 401
    assert wrong.error()[0] == "invalid_secret_key"


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "  "}, {"name": 5}, {"name": "n" * 256}])
def test_a_customer_needs_a_name(api: BrokerApi, body: dict[str, Any]) -> None:
    answer = api.admin("POST", "/customers", body)
    assert answer.status == 400
    assert answer.error()[0] == "invalid_name"


def test_customers_are_listed_newest_first_in_pages(api: BrokerApi) -> None:
    made = [api.new_customer(f"customer {i}")["id"] for i in range(3)]
    first = api.admin("GET", "/customers?limit=2")
    assert first.status == 200
    assert first.body["object"] == "list" and first.body["has_more"] is True
    second = api.admin("GET", f"/customers?limit=2&cursor={first.body['next_cursor']}")
    listed = [c["id"] for c in first.body["data"] + second.body["data"]]
    assert sorted(listed) == sorted(made)
    assert second.body["has_more"] is False and second.body["next_cursor"] is None
    assert all("api_key" not in c for c in first.body["data"] + second.body["data"])


def test_unknown_or_malformed_customer_ids_are_404(api: BrokerApi) -> None:
    for customer_id in (str(uuid.uuid4()), "not-a-uuid"):
        answer = api.admin("GET", f"/customers/{customer_id}")
        assert answer.status == 404
        assert answer.error()[0] == "unknown_customer"


def test_rotating_a_customer_key_replaces_it(api: BrokerApi) -> None:
    customer = api.new_customer()
    rotated = api.admin("POST", f"/customers/{customer['id']}/rotate-key")
    assert rotated.status == 200
    assert rotated.body["api_key"] != customer["api_key"]
    assert rotated.body["id"] == customer["id"]
    assert api.customer(customer["api_key"], "GET", f"/{customer['id']}/connections").status == 401


def test_creating_an_instance_shows_its_proxy_key_once(api: BrokerApi) -> None:
    from chalicelib.broker.models import Instance

    customer = api.new_customer()
    answer = api.admin("POST", f"/customers/{customer['id']}/instances", {"name": "mail agent"})
    assert answer.status == 201
    assert set(answer.body) == {"id", "customer_id", "name", "proxy_key", "created_at"}
    assert answer.body["customer_id"] == customer["id"]
    assert answer.body["proxy_key"].startswith("kpi_")
    stored = Instance.get(answer.body["id"])
    assert stored.key_hash == hashlib.sha256(answer.body["proxy_key"].encode()).hexdigest()
    shown = api.admin("GET", f"/customers/{customer['id']}/instances/{answer.body['id']}")
    assert shown.body == {k: v for k, v in answer.body.items() if k != "proxy_key"}


def test_instances_are_listed_per_customer(api: BrokerApi) -> None:
    customer = api.new_customer()
    other = api.new_customer("Other Co")
    mine = {api.new_instance(customer["id"], f"agent {i}")["id"] for i in range(2)}
    api.new_instance(other["id"])
    answer = api.admin("GET", f"/customers/{customer['id']}/instances")
    assert {i["id"] for i in answer.body["data"]} == mine


def test_an_instance_is_found_only_under_its_customer(api: BrokerApi) -> None:
    customer = api.new_customer()
    other = api.new_customer("Other Co")
    instance = api.new_instance(customer["id"])
    for path in (f"/customers/{other['id']}/instances/{instance['id']}", f"/customers/{customer['id']}/instances/x"):
        answer = api.admin("GET", path)
        assert answer.status == 404
        assert answer.error()[0] == "unknown_instance"
    assert api.admin("DELETE", f"/customers/{other['id']}/instances/{instance['id']}").status == 404


def test_instances_of_an_unknown_customer_cannot_be_created(api: BrokerApi) -> None:
    answer = api.admin("POST", f"/customers/{uuid.uuid4()}/instances", {"name": "x"})
    assert answer.status == 404


def test_rotating_a_proxy_key_replaces_it(api: BrokerApi) -> None:
    customer = api.new_customer()
    instance = api.new_instance(customer["id"])
    rotated = api.admin("POST", f"/customers/{customer['id']}/instances/{instance['id']}/rotate-key")
    assert rotated.status == 200
    assert rotated.body["proxy_key"] != instance["proxy_key"]
    assert rotated.body["id"] == instance["id"]


def test_deleting_an_instance(api: BrokerApi) -> None:
    customer = api.new_customer()
    instance = api.new_instance(customer["id"])
    path = f"/customers/{customer['id']}/instances/{instance['id']}"
    assert api.admin("DELETE", path).status == 204
    assert api.admin("GET", path).status == 404


def test_deleting_a_customer_removes_everything_it_owns(api: BrokerApi) -> None:
    from chalicelib.broker.models import AuditEntry, Connection, Grant, Instance

    customer = api.new_customer()
    bystander = api.new_customer("Bystander")
    instance = api.new_instance(customer["id"])
    connection = api.new_connection(customer)
    api.grant(customer, connection["id"], instance["id"], ["read"])
    assert api.fetch(instance["id"], instance["proxy_key"], provider="deputy").status == 200
    kept_instance = api.new_instance(bystander["id"])
    kept_connection = api.new_connection(bystander)
    assert len(list(AuditEntry.query(customer["id"]))) == 1

    assert api.admin("DELETE", f"/customers/{customer['id']}").status == 204

    assert api.admin("GET", f"/customers/{customer['id']}").status == 404
    assert list(Connection.query(customer["id"])) == []
    assert list(Instance.by_customer.query(customer["id"])) == []
    assert list(Grant.query(instance["id"])) == []
    assert list(AuditEntry.query(customer["id"])) == []
    assert api.customer(customer["api_key"], "GET", f"/{customer['id']}/connections").status == 401
    assert api.fetch(instance["id"], instance["proxy_key"], provider="deputy").status == 401
    assert [c["id"] for c in api.connections(bystander)] == [kept_connection["id"]]
    assert api.admin("GET", f"/customers/{bystander['id']}/instances/{kept_instance['id']}").status == 200
    assert api.admin("DELETE", f"/customers/{customer['id']}").status == 404


def test_a_customer_being_deleted_refuses_its_key_and_new_children(api: BrokerApi) -> None:
    from chalicelib.broker import repository

    customer = api.new_customer()
    repository.mark_customer_deleting(customer["id"], 0)
    assert api.customer(customer["api_key"], "GET", f"/{customer['id']}/connections").status == 401
    assert api.admin("POST", f"/customers/{customer['id']}/instances", {"name": "late"}).status == 404
    assert api.admin("DELETE", f"/customers/{customer['id']}").status == 204
