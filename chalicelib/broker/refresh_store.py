"""The refresh function's view of the broker's connections: lease, read, store, record failures.

:func:`chalicelib.oauth.refresh.refresh` does the refreshing; this Store maps a connection to what it
needs. A connection's credentials use the broker's names (``access_token``, ``refresh_token``,
``client_id`` ...); the refresh function reads Pizzly's (``accessToken``, ``refreshToken``), so
:func:`held` translates, and :meth:`ConnectionStore.save` merges the new tokens back into the stored
credentials, then rewrites the connection and the credential copies on its grants in one transaction.

A refresh costs two DynamoDB calls: the lease (a conditional update that returns the connection) and
the save (one transaction over the connection as leased and its grants' copies). Only when a grant
came or went meanwhile is the connection read again. A connection without its own client credentials
refreshes with its integration's latest configuration (:mod:`chalicelib.oauth.providers`), read once
per sweep when the sweep's store is used.

A store key is ``"<customer_id>/<connection_id>"`` (:func:`store_key`): the sweep builds it from the
items of the ``refresh_due`` index.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from chalicelib import catalog
from chalicelib.broker import repository, service
from chalicelib.broker.models import Connection
from chalicelib.crypto import open_json, seal_json
from chalicelib.errors import NotFound
from chalicelib.oauth import providers, records
from chalicelib.oauth.due import DUE_SHARDS, due_fields, shard_keys
from chalicelib.oauth.oauth2 import TokenError
from chalicelib.oauth.refresh import Held, RefreshBusy

if TYPE_CHECKING:
    from chalicelib import activity

# Token response fields (Pizzly's payload names) kept in the stored credentials, by broker name.
_TOKEN_FIELDS = {
    "accessToken": "access_token",
    "refreshToken": "refresh_token",
    "tokenType": "token_type",
    "idToken": "id_token",
}


def store_key(customer_id: str, connection_id: str) -> str:
    """The key of a connection for :func:`chalicelib.oauth.refresh.refresh`."""
    return f"{customer_id}/{connection_id}"


def _split(key: str) -> tuple[str, str]:
    customer_id, _, connection_id = key.partition("/")
    return customer_id, connection_id


def credentials_of(connection: Connection) -> dict[str, Any]:
    """The decrypted credentials of a connection."""
    value: dict[str, Any] = open_json(connection.credentials, purpose=service.CONNECTION_PURPOSE, record=connection.id)
    return value


def held(connection: Connection) -> Held:
    """A connection as the refresh function sees it."""
    credentials = credentials_of(connection)
    secret = {pizzly: credentials[ours] for pizzly, ours in _TOKEN_FIELDS.items() if credentials.get(ours)}
    return Held(
        updated_at=int(connection.updated_at),
        expires_at=int(connection.expires_at) if connection.expires_at is not None else None,
        secret=secret,
        needs_reconnect=bool(connection.needs_reconnect),
        attempts=int(connection.refresh_attempts or 0),
        next_attempt_at=int(connection.next_attempt_at) if connection.next_attempt_at is not None else None,
        record=connection,
    )


def failure_message(error: dict[str, Any], definitive: bool) -> str:
    """The ``error_message`` a connection shows after a failed refresh."""
    message = f"Token refresh failed: {error.get('error')} ({error.get('description')})."
    if definitive:
        return message + " Reconnect: create the connection again with new credentials."
    return message + " It will be retried."


class ConnectionStore:
    """Implements :class:`chalicelib.oauth.refresh.Store` for broker connections.

    ``cache``: the sweep's :class:`~chalicelib.oauth.providers.SweepCache`; without one (a request),
    the integration's latest configuration is read as stored now.
    """

    def __init__(self, cache: providers.SweepCache | None = None) -> None:
        self.cache = cache

    def acquire(self, key: str, lease_id: str, now: int, lease_ms: int) -> Held | None:
        item = repository.acquire_lease(*_split(key), lease_id, now, lease_ms)
        if item is None:
            self.peek(key)  # raises NotFound when the connection is gone
            return None
        return held(item)

    def peek(self, key: str) -> Held:
        item = repository.get_connection(*_split(key))
        if item is None:
            raise NotFound("The connection was deleted.", code="unknown_connection")
        return held(item)

    def provider(self, key: str, current: Held) -> tuple[dict[str, Any], str, str]:
        item: Connection = current.record
        integration = item.integration or (service.catalog_integration(item.provider) or (None, None))[0]
        try:
            definition = catalog.get(integration) if integration else None
        except catalog.UnknownIntegration:
            definition = None
        if definition is None or catalog.auth_type(definition) != catalog.OAUTH2:
            raise TokenError(
                "unknown_provider", f"The integrations catalog has no OAuth 2 integration '{item.provider}'."
            )
        credentials = credentials_of(item)
        client_id, client_secret = credentials.get("client_id"), credentials.get("client_secret")
        if isinstance(client_id, str) and client_id and isinstance(client_secret, str) and client_secret:
            return definition["auth"], client_id, client_secret
        client = providers.latest_client(str(integration), self.cache)
        if client is None:
            raise TokenError(
                "missing_client_credentials",
                f"The connection has no client_id/client_secret and '{integration}' has no configuration.",
            )
        return definition["auth"], client.client_id, client.client_secret

    def save(
        self, key: str, lease_id: str, current: Held, secret: dict[str, Any], expires_at: int | None, now: int
    ) -> Held:
        item: Connection | None = current.record
        for _ in range(4):
            if item is None:
                raise NotFound("The connection was deleted during its refresh.", code="unknown_connection")
            if item.lease_id != lease_id:
                raise RefreshBusy("The refresh took longer than its lease; try again.")
            credentials = credentials_of(item)
            credentials.update({ours: secret[pizzly] for pizzly, ours in _TOKEN_FIELDS.items() if secret.get(pizzly)})
            sealed = seal_json(credentials, purpose=service.CONNECTION_PURPOSE, record=item.id)
            buffer = service.refresh_buffer_ms(item.integration)
            due_shard, due_at = due_fields(item.id, bool(credentials.get("refresh_token")), expires_at, buffer)
            fields: dict[str, Any] = {
                "credentials": sealed,
                "expires_at": expires_at,
                "due_shard": due_shard,
                "refresh_due_at": due_at,
                "status": service.ACTIVE,
                "error_message": None,
                "refresh_error": None,
                "refresh_attempts": 0,
                "next_attempt_at": None,
                "needs_reconnect": False,
                "lease_id": None,
                "lease_until": None,
                "updated_at": now,
            }
            copy = {"credentials": sealed, "expires_at": expires_at, "refresh_due_at": due_at}
            read_revision = int(item.revision)
            if repository.save_refreshed(item, lease_id, read_revision, fields, copy):
                for name, value in fields.items():
                    setattr(item, name, value)
                item.revision = read_revision + 1
                return held(item)
            item = repository.get_connection(*_split(key))  # a grant came or went meanwhile
        raise RefreshBusy("The connection kept changing during its refresh; try again.")

    def fail(self, key: str, lease_id: str, error: dict[str, Any], retry_at: int | None, now: int) -> None:
        definitive = retry_at is None
        actions = [
            *records.failure(Connection, error, retry_at, now),
            Connection.status.set(service.RECONNECT_REQUIRED if definitive else service.ERROR),
            Connection.error_message.set(failure_message(error, definitive)),
        ]
        # False: the lease expired and another caller took over; what it writes wins.
        repository.update_under_lease(*_split(key), lease_id, actions)

    def release(self, key: str, lease_id: str) -> None:
        repository.update_under_lease(*_split(key), lease_id, records.release(Connection))


class ConnectionSource:
    """The refresh sweep's view of broker connections: the sparse, sharded ``refresh_due`` index."""

    name = "broker"
    shard_count = DUE_SHARDS

    def due(self, until_ms: int, shards: Iterable[int] | None = None) -> Iterator[tuple[str, int]]:
        """(store key, expires_at) of every connection whose refresh is due by ``until_ms`` (in ``shards``)."""
        for item in repository.due_connections(until_ms, shard_keys(shards)):
            if item.expires_at is not None:
                yield store_key(item.customer_id, item.id), int(item.expires_at)

    def store(self, entries: activity.Batch) -> ConnectionStore:
        """A store for one sweep: each integration's latest configuration is read once (a connection's
        refresh writes no activity entry: ``entries`` stays unused)."""
        return ConnectionStore(providers.SweepCache())


SWEEP_SOURCE = ConnectionSource()
