"""Operators' rules of the credential broker (``/admin/customers…``): customers, their instances and keys.

An API key (customer) or proxy key (instance) is shown once, when issued, and stored only as a hash.
Deleting a customer or an instance first closes it, so an interrupted deletion is finished by asking again.
"""

from __future__ import annotations

import uuid
from typing import Any

from chalicelib.broker import repository
from chalicelib.broker.models import Customer, Grant, Instance
from chalicelib.broker.service import (
    API_KEY_PREFIX,
    NAME_MAX,
    PROXY_KEY_PREFIX,
    UnknownCustomer,
    UnknownInstance,
    canonical_id,
    optimistic,
    remove_connection,
)
from chalicelib.crypto import key_hash, new_key
from chalicelib.errors import BadRequest
from chalicelib.http import iso_ms, now_ms


class InvalidName(BadRequest):
    code = "invalid_name"
    default_message = f"'name' must be a non-empty string of at most {NAME_MAX} characters."


def _name(body: dict[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > NAME_MAX:
        raise InvalidName()
    return name.strip()


def customer_view(customer: Customer, api_key: str | None = None) -> dict[str, Any]:
    """A customer as operators see it; the API key only when just issued."""
    view: dict[str, Any] = {"id": customer.id, "name": customer.name}
    if api_key is not None:
        view["api_key"] = api_key
    view["created_at"] = iso_ms(customer.created_at)
    return view


def instance_view(instance: Instance, proxy_key: str | None = None) -> dict[str, Any]:
    """An instance as operators see it; the proxy key only when just issued."""
    view: dict[str, Any] = {"id": instance.id, "customer_id": instance.customer_id, "name": instance.name}
    if proxy_key is not None:
        view["proxy_key"] = proxy_key
    view["created_at"] = iso_ms(instance.created_at)
    return view


def _customer(customer_id: str) -> Customer:
    canonical = canonical_id(customer_id)
    customer = repository.get_customer(canonical) if canonical else None
    if customer is None:
        raise UnknownCustomer(f"No customer has the id '{customer_id[:64]}'.")
    return customer


def create_customer(body: dict[str, Any]) -> dict[str, Any]:
    """POST /admin/customers: a new customer and its API key, shown this once."""
    name = _name(body)
    api_key = new_key(API_KEY_PREFIX)
    now = now_ms()
    customer = Customer(str(uuid.uuid4()), name=name, key_hash=key_hash(api_key), created_at=now, updated_at=now)
    repository.create_customer(customer)
    return customer_view(customer, api_key)


def list_customers(limit: int, cursor: str | None) -> dict[str, Any]:
    """GET /admin/customers, newest first."""
    items, next_cursor = repository.list_customers(limit, cursor)
    return _list([customer_view(c) for c in items], next_cursor)


def get_customer(customer_id: str) -> dict[str, Any]:
    """GET /admin/customers/{customer_id}."""
    return customer_view(_customer(customer_id))


def rotate_customer_key(customer_id: str) -> dict[str, Any]:
    """POST /admin/customers/{customer_id}/rotate-key: a new API key; the old one stops working at once."""
    customer = _customer(customer_id)
    api_key = new_key(API_KEY_PREFIX)
    updated = repository.set_customer_key(customer.id, key_hash(api_key), now_ms())
    if updated is None:
        raise UnknownCustomer(f"No customer has the id '{customer_id[:64]}'.")
    return customer_view(updated, api_key)


def delete_customer(customer_id: str) -> None:
    """DELETE /admin/customers/{customer_id}: the customer, its connections, grants, instances and audit.

    The customer is closed first (its key stops working, nothing new can be added to it), so an
    interrupted deletion is finished by asking again.
    """
    customer = _customer(customer_id)
    repository.mark_customer_deleting(customer.id, now_ms())
    for connection in repository.list_connections(customer.id):
        remove_connection(customer.id, connection.id)
    for instance in repository.all_instances(customer.id):
        _delete_instance(instance)
    repository.delete_audit(customer.id)
    repository.delete_customer(customer.id)


# --- operators: instances ---------------------------------------------------------------------------


def _instance(customer: Customer, instance_id: str) -> Instance:
    canonical = canonical_id(instance_id)
    instance = repository.get_instance(canonical) if canonical else None
    if instance is None or instance.customer_id != customer.id:
        raise UnknownInstance(f"Customer '{customer.id}' has no instance '{instance_id[:64]}'.")
    return instance


def create_instance(customer_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /admin/customers/{customer_id}/instances: a new instance and its proxy key, shown this once."""
    customer = _customer(customer_id)
    name = _name(body)
    proxy_key = new_key(PROXY_KEY_PREFIX)
    now = now_ms()
    instance = Instance(
        str(uuid.uuid4()),
        customer_id=customer.id,
        name=name,
        key_hash=key_hash(proxy_key),
        created_at=now,
        updated_at=now,
    )
    if not repository.create_instance(instance):
        raise UnknownCustomer(f"No customer has the id '{customer_id[:64]}'.")
    return instance_view(instance, proxy_key)


def list_instances(customer_id: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """GET /admin/customers/{customer_id}/instances, newest first."""
    customer = _customer(customer_id)
    items, next_cursor = repository.list_instances(customer.id, limit, cursor)
    return _list([instance_view(i) for i in items], next_cursor)


def get_instance(customer_id: str, instance_id: str) -> dict[str, Any]:
    """GET /admin/customers/{customer_id}/instances/{instance_id}."""
    return instance_view(_instance(_customer(customer_id), instance_id))


def rotate_instance_key(customer_id: str, instance_id: str) -> dict[str, Any]:
    """POST .../instances/{instance_id}/rotate-key: a new proxy key; the old one stops working at once."""
    instance = _instance(_customer(customer_id), instance_id)
    proxy_key = new_key(PROXY_KEY_PREFIX)
    updated = repository.set_instance_key(instance.id, instance.customer_id, key_hash(proxy_key), now_ms())
    if updated is None:
        raise UnknownInstance(f"Customer '{instance.customer_id}' has no instance '{instance_id[:64]}'.")
    return instance_view(updated, proxy_key)


def delete_instance(customer_id: str, instance_id: str) -> None:
    """DELETE .../instances/{instance_id}: the instance and every grant made to it."""
    _delete_instance(_instance(_customer(customer_id), instance_id))


def _delete_instance(instance: Instance) -> None:
    repository.mark_instance_deleting(instance.id, now_ms())
    for grant in repository.instance_grants(instance.id):
        _revoke(grant)
    repository.delete_instance(instance.id)


def _revoke(grant: Grant) -> None:
    def attempt() -> bool:
        connection = repository.get_connection(grant.customer_id, grant.connection_id)
        if connection is None:
            repository.delete_grant_items([grant])
            return True
        return repository.remove_grant(connection, grant.instance_id)

    optimistic(attempt)


def _list(data: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": next_cursor is not None, "next_cursor": next_cursor}
