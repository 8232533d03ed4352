"""The refresh function's view of the authentications table: lease, read, store, record failures."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib import catalog
from chalicelib.crypto import open_json
from chalicelib.dynamo import is_conditional_failure, translated
from chalicelib.errors import NotFound
from chalicelib.integrations import repository, service
from chalicelib.integrations.models import Authentication
from chalicelib.oauth.oauth2 import TokenError
from chalicelib.oauth.refresh import Held, RefreshBusy


def held(item: Authentication, payload: dict[str, Any] | None = None) -> Held:
    """An authentication as the refresh function sees it (``payload``: already opened by the caller)."""
    if payload is None:
        payload = open_json(item.payload, purpose=service.AUTHENTICATION_PURPOSE, record=item.id)
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
    """Implements :class:`chalicelib.oauth.refresh.Store` for Pizzly authentications."""

    def acquire(self, key: str, lease_id: str, now: int, lease_ms: int) -> Held | None:
        item = Authentication(key)
        free = Authentication.lease_until.does_not_exist() | (Authentication.lease_until < now)
        try:
            with translated():
                item.update(
                    actions=[Authentication.lease_id.set(lease_id), Authentication.lease_until.set(now + lease_ms)],
                    condition=Authentication.id.exists() & free,
                )
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
        configuration = repository.get_configuration(item.setup_id)
        if configuration is None or configuration.integration != item.integration:
            raise TokenError(
                "unknown_configuration", "The configuration this authentication was made with was deleted."
            )
        client_id, client_secret = service.client_credentials(configuration)
        auth: dict[str, Any] = dict(definition["auth"])
        params = {"connectParams": dict(item.connect_params or {})}
        for url in ("tokenURL", "refreshURL"):
            if url in auth:
                auth[url] = catalog.fill(auth[url], params)  # e.g. https://${connectParams.shop}.myshopify.com/...
        return auth, client_id, client_secret

    def save(self, key: str, lease_id: str, secret: dict[str, Any], expires_at: int | None, now: int) -> Held:
        item = repository.get_authentication(key, consistent=True)
        if item is None:
            raise NotFound("The authentication was deleted during its refresh.", code="unknown_authentication")
        definition = catalog.get(item.integration)
        service.set_payload(item, definition, {k: v for k, v in secret.items() if k != "updatedAt"}, now)
        item.refreshed_at = now
        item.lease_id = None
        item.lease_until = None
        self._write(item, lease_id)
        from chalicelib.dashboard import activity

        activity.record("authentication.refreshed", "refresh", f"{item.integration}/{key}", at=now)
        return held(item)

    def fail(self, key: str, lease_id: str, error: dict[str, Any], retry_at: int | None, now: int) -> None:
        item = Authentication(key)
        actions = [
            Authentication.refresh_error.set({**error, "at": now}),
            Authentication.refresh_attempts.add(1),
            Authentication.lease_id.remove(),
            Authentication.lease_until.remove(),
        ]
        if retry_at is None:
            actions += [
                Authentication.needs_reconnect.set(True),
                Authentication.next_attempt_at.remove(),
                Authentication.due_shard.remove(),
                Authentication.refresh_due_at.remove(),
            ]
        else:
            actions += [Authentication.next_attempt_at.set(retry_at), Authentication.refresh_due_at.set(retry_at)]
        self._update(item, actions, lease_id)
        from chalicelib.dashboard import activity

        outcome = "needs reconnect" if retry_at is None else "will retry"
        detail = f"{error.get('error', 'error')}: {error.get('description') or ''} ({outcome})"
        activity.record("authentication.refresh_failed", "refresh", key, detail, at=now)

    def release(self, key: str, lease_id: str) -> None:
        item = Authentication(key)
        self._update(item, [Authentication.lease_id.remove(), Authentication.lease_until.remove()], lease_id)

    def _update(self, item: Authentication, actions: list[Any], lease_id: str) -> None:
        try:
            with translated():
                item.update(actions=actions, condition=Authentication.lease_id == lease_id)
        except UpdateError as e:
            if not is_conditional_failure(e):
                raise
            # The lease expired and another caller took over; what it writes wins.

    def _write(self, item: Authentication, lease_id: str) -> None:
        from pynamodb.exceptions import PutError

        try:
            with translated():
                item.save(condition=Authentication.lease_id == lease_id)
        except PutError as e:
            if is_conditional_failure(e):
                raise RefreshBusy("The refresh took longer than its lease; try again.") from e
            raise


class AuthenticationSource:
    """The sweep's view of authentications: the sparse, sharded ``refresh_due`` index."""

    name = "integrations"
    shard_count = service.DUE_SHARDS

    def due(self, until_ms: int, shards: Iterable[int] | None = None) -> Iterator[tuple[str, int]]:
        for shard in range(self.shard_count) if shards is None else shards:
            with translated():
                items = Authentication.refresh_due.query(
                    f"due#{shard}", Authentication.refresh_due_at <= until_ms, page_size=500
                )
                for item in items:
                    if item.expires_at is not None:
                        yield item.id, int(item.expires_at)

    def store(self) -> AuthenticationStore:
        return AuthenticationStore()


SWEEP_SOURCE = AuthenticationSource()
