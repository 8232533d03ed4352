"""The customer API's rules (``/v1/customers/{customer_id}/connections…``): connections, grants, audit.

A connection's credentials are sealed when created and never shown again; the runtime fetch hands
them to the instances a grant names. Only this module imports the request models (``schemas``,
pydantic): the runtime fetch, which shares ``service.py``, stays light.
"""

from __future__ import annotations

import uuid
from typing import Any

from chalicelib import catalog
from chalicelib.broker import repository, schemas
from chalicelib.broker.models import AuditEntry, Connection, Customer, Grant
from chalicelib.broker.service import (
    ACTIVE,
    BEARER_CHALLENGE,
    CONNECTION_PURPOSE,
    MAX_GRANTS_PER_CONNECTION,
    UnknownConnection,
    UnknownGrant,
    UnknownInstance,
    catalog_integration,
    optimistic,
    refresh_buffer_ms,
    remove_connection,
)
from chalicelib.crypto import key_hash, same, seal_json
from chalicelib.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from chalicelib.http import iso_ms, now_ms
from chalicelib.oauth import due, providers


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


# --- authentication ----------------------------------------------------------------------------------


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


def _refresh_integration(provider: str, credentials: dict[str, Any]) -> str:
    """The catalog integration that refreshes these OAuth 2 credentials; 422 when they cannot be refreshed."""
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
    if providers.latest_configuration(integration) is None:
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
    connection.due_shard, connection.refresh_due_at = due.due_fields(
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
    remove_connection(customer.id, connection_id)


# --- customer API: grants -----------------------------------------------------------------------------


def create_grant(customer: Customer, connection_id: str, body: Any) -> dict[str, Any]:
    """POST .../connections/{connection_id}/grants: one grant per connection and instance (a second: 409)."""
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
    query = schemas.validate(schemas.AuditQuery, params, ("query",))
    _connection(customer, connection_id)
    items, next_cursor = repository.connection_audit(connection_id, query.limit, query.cursor)
    return {"entries": [audit_view(e) for e in items], "next_cursor": next_cursor}
