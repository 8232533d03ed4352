"""The refresh function's view of the authentications table: lease, store, record failures; the due index.

A refresh costs two DynamoDB calls here: the lease (a conditional update that returns the record) and
the save (a conditional put over the record as leased, which also releases the lease). The provider's
client comes from :mod:`chalicelib.oauth.providers`, once per sweep when the sweep's store is used. Each
refresh and failure is an activity-log entry: written at once on a request, kept in the sweep's batch
(25 entries a write) in a sweep.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib import activity, catalog
from chalicelib.dynamo import is_conditional_failure, translated
from chalicelib.errors import NotFound
from chalicelib.integrations import repository
from chalicelib.integrations.models import Authentication
from chalicelib.integrations.payload import open_payload, set_payload
from chalicelib.oauth import providers, records
from chalicelib.oauth.due import DUE_SHARDS, shard_keys
from chalicelib.oauth.oauth2 import TokenError
from chalicelib.oauth.refresh import Held, RefreshBusy


def held(item: Authentication, payload: dict[str, Any] | None = None) -> Held:
    """An authentication as the refresh function sees it (``payload``: already opened by the caller)."""
    if payload is None:
        payload = open_payload(item)
    return Held(
        updated_at=int(item.updated_at),
        expires_at=int(item.expires_at) if item.expires_at is not None else None,
        secret=payload,
        needs_reconnect=bool(item.needs_reconnect),
        attempts=int(item.refresh_attempts or 0),
        next_attempt_at=int(item.next_attempt_at) if item.next_attempt_at is not None else None,
        record=item,
        refreshed_at=int(item.refreshed_at) if item.refreshed_at is not None else None,
    )


class AuthenticationStore:
    """Implements :class:`chalicelib.oauth.refresh.Store` for Pizzly authentications.

    ``cache``: the sweep's :class:`~chalicelib.oauth.providers.SweepCache`; without one (a request),
    the configuration is read as stored now. ``record``: where activity entries go (a sweep's
    :class:`~chalicelib.activity.Batch`; by default, written at once).
    """

    def __init__(self, cache: providers.SweepCache | None = None, record: activity.Recorder = activity.record) -> None:
        self.cache = cache
        self.record = record

    def acquire(self, key: str, lease_id: str, now: int, lease_ms: int) -> Held | None:
        item = Authentication(key)
        actions, free = records.lease(Authentication, lease_id, now, lease_ms)
        try:
            with translated():
                item.update(actions=actions, condition=free)
        except UpdateError as e:
            if not is_conditional_failure(e):
                raise
            self.peek(key)  # raises NotFound when the authentication is gone
            return None
        try:
            return held(item)
        except BaseException:
            self.release(key, lease_id)  # a record that cannot be opened must not stay leased
            raise

    def peek(self, key: str) -> Held:
        item = repository.get_authentication(key, consistent=True)
        if item is None:
            raise NotFound("The authentication was deleted.", code="unknown_authentication")
        return held(item)

    def provider(self, key: str, current: Held) -> tuple[dict[str, Any], str, str]:
        item: Authentication = current.record
        definition = catalog.get(item.integration)
        client = providers.setup_client(item.setup_id, self.cache)
        if client is None or client.integration != item.integration:
            raise TokenError(
                "unknown_configuration", "The configuration this authentication was made with was deleted."
            )
        auth: dict[str, Any] = dict(definition["auth"])
        params = {"connectParams": dict(item.connect_params or {})}
        for url in ("tokenURL", "refreshURL"):
            if url in auth:
                auth[url] = catalog.fill(auth[url], params)  # e.g. https://${connectParams.shop}.myshopify.com/...
        return auth, client.client_id, client.client_secret

    def save(
        self, key: str, lease_id: str, current: Held, secret: dict[str, Any], expires_at: int | None, now: int
    ) -> Held:
        item: Authentication = current.record
        definition = catalog.get(item.integration)
        set_payload(item, definition, {k: v for k, v in secret.items() if k != "updatedAt"}, now)
        item.refreshed_at = now
        item.lease_id = None
        item.lease_until = None
        self._write(item, lease_id)
        self.record("authentication.refreshed", "refresh", f"{item.integration}/{key}", at=now)
        return held(item)

    def fail(self, key: str, lease_id: str, error: dict[str, Any], retry_at: int | None, now: int) -> None:
        self._update(Authentication(key), records.failure(Authentication, error, retry_at, now), lease_id)
        outcome = "needs reconnect" if retry_at is None else "will retry"
        detail = f"{error.get('error', 'error')}: {error.get('description') or ''} ({outcome})"
        self.record("authentication.refresh_failed", "refresh", key, detail, at=now)

    def release(self, key: str, lease_id: str) -> None:
        self._update(Authentication(key), records.release(Authentication), lease_id)

    def _update(self, item: Authentication, actions: list[Any], lease_id: str) -> None:
        try:
            with translated():
                item.update(actions=actions, condition=Authentication.lease_id == lease_id)
        except UpdateError as e:
            if not is_conditional_failure(e):
                raise
            # The lease expired and another caller took over; what it writes wins.

    def _write(self, item: Authentication, lease_id: str) -> None:
        """Put ``item`` if the lease is still ours; else tell a deleted authentication from a lost lease."""
        try:
            with translated():
                item.save(condition=Authentication.lease_id == lease_id)
        except PutError as e:
            if not is_conditional_failure(e):
                raise
            if repository.get_authentication(item.id, consistent=True) is None:
                raise NotFound(
                    "The authentication was deleted during its refresh.", code="unknown_authentication"
                ) from e
            raise RefreshBusy("The refresh took longer than its lease; try again.") from e


class AuthenticationSource:
    """The sweep's view of authentications: the sparse, sharded ``refresh_due`` index."""

    name = "integrations"
    shard_count = DUE_SHARDS

    def due(self, until_ms: int, shards: Iterable[int] | None = None) -> Iterator[tuple[str, int]]:
        for shard in shard_keys(shards):
            with translated():
                items = Authentication.refresh_due.query(
                    shard, Authentication.refresh_due_at <= until_ms, page_size=500
                )
                for item in items:
                    if item.expires_at is not None:
                        yield item.id, int(item.expires_at)

    def store(self, entries: activity.Batch) -> AuthenticationStore:
        """A store for one sweep: each configuration is read once, however many refreshes use it, and
        activity entries go to the sweep's ``entries``."""
        return AuthenticationStore(providers.SweepCache(), entries.record)


SWEEP_SOURCE = AuthenticationSource()
