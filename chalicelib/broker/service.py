"""Rules of the credential broker: customers and instances (operators), connections, grants and audit.

The request models (``schemas``, pydantic) are imported by the functions that validate a body, not
at module level: the runtime fetch (``runtime.py``) shares this module's helpers and stays light.
"""

from __future__ import annotations

import time
import uuid
import zlib
from collections.abc import Callable
from typing import Any

from chalicelib import catalog
from chalicelib.broker import repository
from chalicelib.broker.models import AuditEntry, Connection, Customer, Grant, Instance
from chalicelib.crypto import key_hash, new_key, same, seal_json
from chalicelib.errors import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable, Unauthorized
from chalicelib.http import iso_ms, now_ms
from chalicelib.settings import get_settings

CONNECTION_PURPOSE = "broker/connection"
API_KEY_PREFIX = "kpc_"
PROXY_KEY_PREFIX = "kpi_"
ACTIVE = repository.ACTIVE
ERROR = "error"
RECONNECT_REQUIRED = "reconnect_required"
MAX_GRANTS_PER_CONNECTION = 50  # a refresh rewrites the connection and every grant in one transaction (<= 100)
NAME_MAX = 255
_ATTEMPTS = 4
# Provider names the broker's customers use for catalog integrations of another id.
CATALOG_ALIASES = {"gmail": "google-mail"}
DUE_SHARDS = 8

BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class UnknownCustomer(NotFound):
    code = "unknown_customer"
    default_message = "No customer has this id."


class UnknownInstance(NotFound):
    code = "unknown_instance"
    default_message = "Instance not found."


class UnknownConnection(NotFound):
    code = "unknown_connection"
    default_message = "Connection not found."


class UnknownGrant(NotFound):
    code = "unknown_grant"
    default_message = "Grant not found."


class InvalidName(BadRequest):
    code = "invalid_name"
    default_message = f"'name' must be a non-empty string of at most {NAME_MAX} characters."


class Busy(ServiceUnavailable):
    code = "busy"
    default_message = "The record kept changing while this request ran; try again."


def optimistic(operation: Callable[[], bool]) -> None:
    """Run a read-then-conditional-write ``operation`` until its conditions hold; 503 if they never do."""
    for attempt in range(_ATTEMPTS):
        if operation():
            return
        time.sleep(0.02 * (attempt + 1))
    raise Busy()


def canonical_id(value: str) -> str | None:
    """A UUID in canonical form, or None when ``value`` is not one (operator routes answer 404)."""
    try:
        return str(uuid.UUID(value)) if len(value) <= 45 else None
    except ValueError:
        return None


def _name(body: dict[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > NAME_MAX:
        raise InvalidName()
    return name.strip()


# --- views ------------------------------------------------------------------------------------------


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


def grant_view(connection_id: str, instance_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A grant as the customer API shows it."""
    return {
        "capabilities": list(entry.get("capabilities") or []),
        "connection_id": connection_id,
        "granted_at": iso_ms(entry["granted_at"]),
        "id": entry["id"],
        "instance_id": instance_id,
    }


def grants_of(connection: Connection) -> dict[str, dict[str, Any]]:
    """The connection's grants: instance id -> {"id", "capabilities", "granted_at"}."""
    return connection.grants.as_dict() if connection.grants is not None else {}


def connection_view(connection: Connection) -> dict[str, Any]:
    """A connection as the customer API shows it: never its credentials."""
    grants = sorted(grants_of(connection).items(), key=lambda pair: (pair[1]["granted_at"], pair[1]["id"]))
    return {
        "auth_type": connection.auth_type,
        "created_at": iso_ms(connection.created_at),
        "customer_id": connection.customer_id,
        "error_message": connection.error_message,
        "expires_at": iso_ms(connection.expires_at),
        "grants": [grant_view(connection.id, instance_id, entry) for instance_id, entry in grants],
        "id": connection.id,
        "last_used_at": iso_ms(connection.last_used_at),
        "name": connection.name,
        "provider": connection.provider,
        "scopes": list(connection.scopes or []),
        "status": connection.status,
        "updated_at": iso_ms(connection.updated_at),
    }


def audit_view(entry: AuditEntry) -> dict[str, Any]:
    """An audit entry as the customer API shows it."""
    return {
        "id": entry.id,
        "at": iso_ms(entry.at),
        "instance_id": entry.instance_id,
        "connection_id": entry.connection_id,
        "provider": entry.provider,
        "name": entry.name,
        "capability": entry.capability,
        "outcome": entry.outcome,
        "status_code": int(entry.status_code),
    }


# --- operators: customers ---------------------------------------------------------------------------


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
        _delete_connection(customer.id, connection.id)
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


# --- customer API: authentication ---------------------------------------------------------------------


def path_ids(**values: str) -> dict[str, str]:
    """The UUID path parameters of a customer API route, canonical; 422 as FastAPI answers."""
    from chalicelib.broker import schemas

    return schemas.path_ids(**values)


def authenticate_customer(customer_id: str, api_key: str | None) -> Customer:
    """The customer of ``customer_id`` if ``api_key`` is its key; 401 for no or an unknown key, else 403."""
    if not api_key:
        raise Unauthorized("Not authenticated", headers=BEARER_CHALLENGE)
    digest = key_hash(api_key)
    customer = repository.get_customer(customer_id)
    if customer is not None and customer.status == ACTIVE and same(customer.key_hash, digest):
        return customer
    owner_id = repository.customer_id_for_key(digest)
    if owner_id is not None and owner_id != customer_id:
        owner = repository.get_customer(owner_id)
        if owner is not None and owner.status == ACTIVE and same(owner.key_hash, digest):
            raise Forbidden("This API key does not give access to this customer.")
    raise Unauthorized("Invalid API key", headers=BEARER_CHALLENGE)


# --- customer API: connections ------------------------------------------------------------------------


def catalog_integration(provider: str) -> tuple[str, dict[str, Any]] | None:
    """The catalog integration (id, definition) a provider name means, or None (``gmail`` is ``google-mail``)."""
    candidates = dict.fromkeys(
        c
        for c in (CATALOG_ALIASES.get(provider.lower()), provider, provider.lower(), provider.lower().replace("_", "-"))
        if c and catalog.valid_id(c)
    )
    for candidate in candidates:
        try:
            return candidate, catalog.get(candidate)
        except catalog.UnknownIntegration:
            continue
    return None


def refresh_buffer_ms(integration: str | None) -> int:
    """How long before expiry a connection of this integration is refreshed."""
    from chalicelib.integrations.service import buffer_ms

    if integration is not None:
        try:
            return buffer_ms(catalog.get(integration))
        except catalog.UnknownIntegration:
            pass
    return get_settings().refresh_buffer_seconds * 1000


def due_fields(
    connection_id: str, refreshable: bool, expires_at: int | None, buffer: int
) -> tuple[str | None, int | None]:
    """The sweep index fields of a connection: (shard, due time), or (None, None) when never due.

    Same shape as the authentications' (``due#N`` shards, N < 8), so one sweep reads both tables alike.
    """
    if expires_at is None or not refreshable:
        return None, None
    return f"due#{zlib.crc32(connection_id.encode()) % DUE_SHARDS}", expires_at - buffer


def _refresh_integration(provider: str, credentials: dict[str, Any]) -> str:
    """The catalog integration that refreshes these OAuth 2 credentials; 422 when they cannot be refreshed."""
    from chalicelib.broker import schemas
    from chalicelib.errors import ValidationFailed
    from chalicelib.integrations import repository as integrations

    found = catalog_integration(provider)
    if found is None or catalog.auth_type(found[1]) != catalog.OAUTH2:
        message = (
            f"Value error, a refresh token needs a provider whose token URL the integrations catalog knows; "
            f"'{provider}' is not an OAuth 2 integration of the catalog"
        )
        raise ValidationFailed(details=[schemas.error("value_error", ["body", "provider"], message)])
    integration = found[0]
    if credentials.get("client_id") and credentials.get("client_secret"):
        return integration
    if integrations.latest_configuration(integration) is None:
        message = (
            "Value error, a refresh token needs client_id and client_secret in credentials, "
            f"or a configuration of the '{integration}' integration"
        )
        raise ValidationFailed(details=[schemas.error("value_error", ["body", "credentials"], message)])
    return integration


def list_connections(customer: Customer) -> dict[str, Any]:
    """GET /v1/customers/{customer_id}/connections, newest first."""
    items = sorted(repository.list_connections(customer.id), key=lambda c: (c.created_at, c.id), reverse=True)
    return {"connections": [connection_view(c) for c in items], "total": len(items)}


def create_connection(customer: Customer, body: Any) -> dict[str, Any]:
    """POST /v1/customers/{customer_id}/connections: credentials sealed, never shown again."""
    from chalicelib.broker import schemas

    data = schemas.validate(schemas.BrokerConnectionCreate, body, ("body",))
    schemas.metadata_fits(data.metadata_json)
    now = now_ms()
    credentials, expires_at = schemas.credentials(data.auth_type, data.credentials, now)
    refreshable = data.auth_type == "oauth2" and bool(credentials.get("refresh_token"))
    integration = _refresh_integration(data.provider, credentials) if refreshable else None
    connection_id = str(uuid.uuid4())
    connection = Connection(
        customer.id,
        connection_id,
        provider=data.provider,
        name=data.name,
        auth_type=data.auth_type,
        integration=integration,
        scopes=list(data.scopes or []),
        metadata_json=data.metadata_json,
        credentials=seal_json(credentials, purpose=CONNECTION_PURPOSE, record=connection_id),
        status=ACTIVE,
        expires_at=expires_at,
        created_at=now,
        updated_at=now,
        grants={},
        revision=0,
    )
    connection.due_shard, connection.refresh_due_at = due_fields(
        connection_id, refreshable, expires_at, refresh_buffer_ms(integration)
    )
    if not repository.create_connection(connection):
        raise Unauthorized("Invalid API key", headers=BEARER_CHALLENGE)
    return connection_view(connection)


def _connection(customer: Customer, connection_id: str) -> Connection:
    connection = repository.get_connection(customer.id, connection_id)
    if connection is None:
        raise UnknownConnection()
    return connection


def delete_connection(customer: Customer, connection_id: str) -> None:
    """DELETE /v1/customers/{customer_id}/connections/{connection_id}: the connection and its grants."""
    _connection(customer, connection_id)
    _delete_connection(customer.id, connection_id)


def _delete_connection(customer_id: str, connection_id: str) -> None:
    def attempt() -> bool:
        connection = repository.get_connection(customer_id, connection_id)
        return connection is None or repository.delete_connection(connection)

    optimistic(attempt)


# --- customer API: grants -----------------------------------------------------------------------------


def create_grant(customer: Customer, connection_id: str, body: Any) -> dict[str, Any]:
    """POST .../connections/{connection_id}/grants: one grant per connection and instance (a second: 409)."""
    from chalicelib.broker import schemas

    data = schemas.validate(schemas.BrokerGrantCreate, body, ("body",))
    instance_id = str(data.instance_id)
    capabilities = list(dict.fromkeys(data.capabilities))
    created: dict[str, Any] = {}

    def attempt() -> bool:
        connection = _connection(customer, connection_id)
        instance = repository.get_instance(instance_id)
        if instance is None or instance.customer_id != customer.id or instance.status != ACTIVE:
            raise UnknownInstance(f"Instance '{instance_id}' not found for this customer.")
        _grantable(connection, instance_id)
        now = now_ms()
        grant = Grant(
            instance_id,
            repository.grant_slot(connection.provider, connection.id),
            id=str(uuid.uuid4()),
            customer_id=customer.id,
            connection_id=connection.id,
            provider=connection.provider,
            name=connection.name,
            auth_type=connection.auth_type,
            capabilities=capabilities,
            granted_at=now,
            credentials=connection.credentials,
            expires_at=connection.expires_at,
            refresh_due_at=connection.refresh_due_at,
        )
        entry = {"id": grant.id, "capabilities": capabilities, "granted_at": now}
        if not repository.add_grant(connection, grant, entry):
            return False
        created.update(grant_view(connection.id, instance_id, entry))
        return True

    optimistic(attempt)
    return created


def _grantable(connection: Connection, instance_id: str) -> None:
    """409 unless the instance can be given this connection: no grant on it yet, and no namesake."""
    existing = grants_of(connection).get(instance_id)
    if existing is not None:
        raise Conflict(
            f"Instance '{instance_id}' already has a grant on this connection ({existing['id']}); "
            "delete that grant to change its capabilities."
        )
    if len(grants_of(connection)) >= MAX_GRANTS_PER_CONNECTION:
        raise Conflict(f"A connection can be granted to at most {MAX_GRANTS_PER_CONNECTION} instances.")
    for other in repository.instance_grants(instance_id, connection.provider):
        if other.provider == connection.provider and other.name == connection.name:
            raise Conflict(
                f"Instance '{instance_id}' already has a grant on another '{connection.provider}' connection "
                f"named '{connection.name}'; the runtime could not tell them apart."
            )


def delete_grant(customer: Customer, connection_id: str, grant_id: str) -> None:
    """DELETE .../connections/{connection_id}/grants/{grant_id}: revoked at once for the runtime."""

    def attempt() -> bool:
        connection = _connection(customer, connection_id)
        instance_id = next((i for i, e in grants_of(connection).items() if e.get("id") == grant_id), None)
        if instance_id is None:
            raise UnknownGrant()
        return repository.remove_grant(connection, instance_id)

    optimistic(attempt)


# --- customer API: audit ------------------------------------------------------------------------------


def connection_audit(customer: Customer, connection_id: str, params: dict[str, str]) -> dict[str, Any]:
    """GET .../connections/{connection_id}/audit: the connection's runtime fetches, newest first."""
    from chalicelib.broker import schemas

    query = schemas.validate(schemas.AuditQuery, params, ("query",))
    _connection(customer, connection_id)
    items, next_cursor = repository.connection_audit(connection_id, query.limit, query.cursor)
    return {"entries": [audit_view(e) for e in items], "next_cursor": next_cursor}
