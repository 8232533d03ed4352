"""The runtime credential fetch: an instance, with its proxy key, asks for a granted connection's credentials.

Warm, a fetch reads two items' worth: the instance (GetItem, consistent: a rotated key or a deleted
instance fails at once) and the instance's grants of the provider (one consistent Query on the grants
table, whose items carry capabilities and a copy of the connection's sealed credentials). It opens the
credentials with a cached data key (no KMS call) and records the fetch in the audit trail with one write:
PutItem of the entry, or, when the grant last set the connection's ``last_used_at`` over a minute ago, a
TransactWriteItems of the entry and ``last_used_at`` on the connection and the grant. Only when the copy
says the credentials expire soon does it read the connection itself and, if still needed, refresh it
through the one refresh function.

No pydantic here: a valid request imports only what the fetch needs.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from chalicelib.broker import repository, service
from chalicelib.broker.models import AuditEntry, Grant, Instance
from chalicelib.crypto import key_hash, open_json, same
from chalicelib.errors import BadGateway, Conflict, Forbidden, KeyportError, NotFound, Unauthorized, ValidationFailed
from chalicelib.http import iso_ms, now_ms

AUDIT_RETENTION = timedelta(days=90)
# A connection's last_used_at is kept to the minute: within a minute of the last time a fetch through the
# same grant set it, a fetch writes its audit entry alone (one write a fetch instead of two).
TOUCH_INTERVAL_MS = 60_000


class _Fetch:
    """What one fetch asked for, for its audit entry."""

    def __init__(self, instance: Instance, provider: str, name: str | None, capability: str | None) -> None:
        self.instance = instance
        self.provider = provider
        self.name = name
        self.capability = capability

    def record(self, outcome: str, status: int, connection_id: str | None = None, touch: Grant | None = None) -> bool:
        """Write this fetch's audit entry (before answering: a fetch that cannot be recorded fails).

        With ``touch``, the same write sets ``last_used_at`` on the grant's connection; False (nothing
        written) when the connection was deleted meanwhile.
        """
        at = now_ms()
        entry_id = str(uuid.uuid4())
        entry = AuditEntry(
            self.instance.customer_id,
            repository.audit_key(at, entry_id),
            id=entry_id,
            instance_id=self.instance.id,
            connection_id=connection_id,
            provider=self.provider,
            name=self.name,
            capability=self.capability,
            outcome=outcome,
            status_code=status,
            at=at,
            ttl=AUDIT_RETENTION,
        )
        return repository.record_fetch(entry, touch)


def instance_id_param(value: str) -> str:
    """The instance id of the path, canonical; 422 as FastAPI answers (pydantic only for a non-canonical id)."""
    return service.path_ids(instance_id=value)["instance_id"]


def authenticate_instance(instance_id: str, proxy_key: str | None) -> Instance:
    """The instance if ``proxy_key`` is its current key; 401 otherwise."""
    if not proxy_key:
        raise Unauthorized("Not authenticated", headers=service.BEARER_CHALLENGE)
    instance = repository.get_instance(instance_id)
    if instance is None or instance.status != service.ACTIVE or not same(instance.key_hash, key_hash(proxy_key)):
        raise Unauthorized("Invalid proxy key", headers=service.BEARER_CHALLENGE)
    return instance


def fetch(instance_id: str, proxy_key: str | None, params: dict[str, str]) -> dict[str, Any]:
    """GET /internal/v1/instances/{instance_id}/connections: the granted connection's credentials."""
    instance = authenticate_instance(instance_id_param(instance_id), proxy_key)
    provider = params.get("provider")
    if provider is None:
        raise ValidationFailed(details=[{"type": "missing", "loc": ["query", "provider"], "msg": "Field required"}])
    asked = _Fetch(instance, provider, params.get("name"), params.get("capability"))
    grant = _granted(asked)
    try:
        credentials, outcome = _credentials(grant)
    except KeyportError as e:
        asked.record(_failure_outcome(e), e.status, grant.connection_id)
        raise
    touch = grant if grant.last_used_at is None or grant.last_used_at <= now_ms() - TOUCH_INTERVAL_MS else None
    if not asked.record(outcome, 200, grant.connection_id, touch):
        asked.record("deleted", 404, grant.connection_id)
        raise service.UnknownConnection("The connection was deleted.")
    return {"credentials": credentials, "capabilities": list(grant.capabilities or [])}


def _granted(asked: _Fetch) -> Grant:
    """The one grant of the instance matching the request; 404, 409 (ambiguous) or 403 (capability)."""
    # No provider name is longer than a connection's may be; a longer one (up to a DynamoDB key's size)
    # would be refused by the key condition.
    grants = repository.instance_grants(asked.instance.id, asked.provider) if len(asked.provider) <= 50 else []
    matches = [g for g in grants if g.provider == asked.provider and (asked.name is None or g.name == asked.name)]
    if not matches:
        asked.record("no_connection", 404)
        named = f" named '{asked.name}'" if asked.name is not None else ""
        raise NotFound(f"No '{asked.provider}' connection{named} is granted to this instance.")
    if len(matches) > 1:
        asked.record("ambiguous", 409)
        names = ", ".join(sorted(f"'{g.name}'" for g in matches))
        raise Conflict(f"Several '{asked.provider}' connections are granted to this instance ({names}); pass name.")
    grant = matches[0]
    if asked.capability is not None and asked.capability not in (grant.capabilities or []):
        asked.record("missing_capability", 403, grant.connection_id)
        raise Forbidden(f"The grant does not include the capability '{asked.capability}'.")
    return grant


def _credentials(grant: Grant) -> tuple[dict[str, Any], str]:
    """The credentials to hand out and the audit outcome: from the grant's copy, or refreshed first."""
    now = now_ms()
    due = grant.refresh_due_at is not None and grant.refresh_due_at <= now
    expired = grant.expires_at is not None and grant.expires_at <= now
    if not (due or expired):
        credentials: dict[str, Any] = open_json(
            grant.credentials, purpose=service.CONNECTION_PURPOSE, record=grant.connection_id
        )
        return credentials, "granted"
    return _refreshed_credentials(grant, now)


def _refreshed_credentials(grant: Grant, now: int) -> tuple[dict[str, Any], str]:
    # Only a fetch of credentials due for refresh loads the refresh core and its provider client (cold start).
    from chalicelib.broker.refresh_store import ConnectionStore, credentials_of, store_key
    from chalicelib.oauth.refresh import RefreshFailed, is_due, refresh

    store = ConnectionStore()
    key = store_key(grant.customer_id, grant.connection_id)
    held = store.peek(key)
    outcome = "granted"
    if held.secret.get("refreshToken"):
        buffer = service.refresh_buffer_ms(held.record.integration)
        if is_due(held, now, buffer):
            try:
                held = refresh(store, key, buffer_ms=buffer)
            except RefreshFailed as e:
                current = store.peek(key).record
                raise BadGateway(
                    f"The connection's access token could not be refreshed. {current.error_message} "
                    f"The connection's status is now '{current.status}'; its stored credentials were kept.",
                    code="refresh_failed",
                ) from e
            if held.refreshed:
                outcome = "refreshed"
    if held.expires_at is not None and held.expires_at <= now:
        connection = held.record
        reason = connection.error_message or "it has no refresh token"
        raise BadGateway(
            f"The connection's access token expired at {iso_ms(held.expires_at)} and cannot be refreshed: {reason}",
            code="credentials_expired",
        )
    return credentials_of(held.record), outcome


_OUTCOMES = {
    "refresh_failed": "refresh_failed",
    "credentials_expired": "expired",
    "token_refresh_busy": "refresh_busy",
}


def _failure_outcome(error: KeyportError) -> str:
    if error.error_code in _OUTCOMES:
        return _OUTCOMES[error.error_code]
    if isinstance(error, NotFound):
        return "deleted"
    return "error"
