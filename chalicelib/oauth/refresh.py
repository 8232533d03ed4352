"""The one function that refreshes a stored OAuth 2 credential.

The refresh endpoints, the proxy, the broker's credential fetch and the scheduled sweep all call
:func:`refresh`. It leases the record with a conditional update that returns the record as stored
(another caller may have refreshed it a moment ago), calls the provider only if still needed, and
stores the result over the record it leased, releasing the lease in the same write (two DynamoDB
calls). Concurrent callers cause exactly one provider call. A forced refresh within
``REFRESH_COALESCE_SECONDS`` of the last successful one returns that one instead of calling the
provider again, so a client looping on a refresh endpoint cannot hammer the provider. A failure keeps
the old tokens, records the error and the attempt count, and backs off; a refresh token the provider
rejected for good is marked as needing a reconnection and no longer retried.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib import deadline, observability
from chalicelib.errors import KeyportError, Unprocessable
from chalicelib.oauth import grants, oauth2
from chalicelib.oauth.oauth2 import TokenError
from chalicelib.settings import get_settings

LEASE_MS = 30_000
WAIT_SECONDS = 12.0
BACKOFF_BASE_MS = 60_000
BACKOFF_MAX_MS = 6 * 3600 * 1000


class RefreshMissing(Unprocessable):
    code = "token_refresh_missing"
    default_message = "This authentication has no refresh token."


class RefreshFailed(Unprocessable):
    code = "token_refresh_failed"
    default_message = "The provider refused to refresh the token."


class RefreshBusy(KeyportError):
    status = 503
    code = "token_refresh_busy"
    default_message = "Another refresh of this credential is taking too long; try again shortly."


@dataclass
class Held:
    """A credential as read under the lease."""

    updated_at: int
    expires_at: int | None
    secret: dict[str, Any]
    needs_reconnect: bool = False
    attempts: int = 0
    next_attempt_at: int | None = None
    record: Any = None
    refreshed: bool = False  # True when this call got new tokens from the provider
    refreshed_at: int | None = None  # when the provider last gave new tokens (None: unknown, never coalesced)


class Store(Protocol):
    """What :func:`refresh` needs from the table holding a kind of credential.

    Each kind's store (``integrations.refresh_store``, ``broker.refresh_store``) implements it over its
    own table, with the due index of :mod:`chalicelib.oauth.due`, the updates of
    :mod:`chalicelib.oauth.records` and the client lookup of :mod:`chalicelib.oauth.providers`.
    """

    def acquire(self, key: str, lease_id: str, now: int, lease_ms: int) -> Held | None:
        """Take the lease and return the record as stored; None while another caller holds it."""

    def peek(self, key: str) -> Held:
        """The record as stored now (consistent read), without a lease."""

    def provider(self, key: str, held: Held) -> tuple[dict[str, Any], str, str]:
        """The integration ``auth`` section, client id and client secret to refresh with."""

    def save(
        self, key: str, lease_id: str, held: Held, secret: dict[str, Any], expires_at: int | None, now: int
    ) -> Held:
        """Store refreshed tokens over ``held`` (as leased: no read), clear any failure, release the lease."""

    def fail(self, key: str, lease_id: str, error: dict[str, Any], retry_at: int | None, now: int) -> None:
        """Record a failure (``retry_at`` None: never retry) and release the lease."""

    def release(self, key: str, lease_id: str) -> None:
        """Release the lease without changing the record."""


def is_due(held: Held, now: int, buffer_ms: int) -> bool:
    """Whether a credential expires within ``buffer_ms`` and may be retried now (never without expiry)."""
    if held.expires_at is None or held.needs_reconnect:
        return False
    if held.next_attempt_at is not None and held.next_attempt_at > now:
        return False
    return held.expires_at - buffer_ms <= now


def backoff_ms(attempts: int) -> int:
    """Delay before retry number ``attempts`` (1-based): 1, 2, 4 ... minutes, at most 6 hours."""
    return int(min(BACKOFF_BASE_MS * (2 ** max(attempts - 1, 0)), BACKOFF_MAX_MS))


def refresh(
    store: Store,
    key: str,
    *,
    force: bool = False,
    seen_updated_at: int | None = None,
    buffer_ms: int = 0,
    coalesce_ms: int | None = None,
    clock: Any = time,
) -> Held:
    """Refresh one credential if it needs it (or ``force``), exactly once among concurrent callers.

    A forced refresh within ``coalesce_ms`` (default: the ``REFRESH_COALESCE_SECONDS`` setting) of the
    last successful one returns that one; concurrent forced refreshes share the one holding the lease.
    """
    if coalesce_ms is None:
        coalesce_ms = get_settings().refresh_coalesce_seconds * 1000
    rules = _Rules(force, seen_updated_at, buffer_ms, coalesce_ms)
    lease_id = uuid.uuid4().hex
    give_up_at = clock.monotonic() + _wait_seconds()
    delay = 0.05
    while True:
        now = _now_ms(clock)
        held = store.acquire(key, lease_id, now, LEASE_MS)
        if held is not None:
            break
        if clock.monotonic() >= give_up_at:
            raise RefreshBusy()
        clock.sleep(delay)
        delay = min(delay * 2, 0.5)
        current = store.peek(key)
        if rules.done(current, _now_ms(clock)):
            return current
    # From here on the lease is ours: every way out stores, records a failure, or releases it.
    try:
        return _refresh_held(store, key, lease_id, held, rules, now)
    except RefreshFailed:
        raise  # the failure was recorded, and the lease released, by store.fail
    except BaseException:
        store.release(key, lease_id)
        raise


def _refresh_held(store: Store, key: str, lease_id: str, held: Held, rules: _Rules, now: int) -> Held:
    if rules.done(held, now):
        store.release(key, lease_id)
        return held
    try:
        auth, client_id, client_secret = store.provider(key, held)
        token = grants.renew(auth, client_id, client_secret, held.secret)
        if token is None:
            raise RefreshMissing("This authentication has no refresh token; reconnect it to get a new one.")
    except TokenError as e:
        retry_at = None if e.definitive else now + backoff_ms(held.attempts + 1)
        store.fail(key, lease_id, e.as_dict(), retry_at, now)
        observability.metric("RefreshNeedsReconnect" if retry_at is None else "RefreshFailed")
        raise RefreshFailed(f"The provider refused to refresh the token: {e.error} ({e.description})") from e
    secret = oauth2.payload_from_token(token, held.secret, now)
    expires_in = secret.get("expiresIn")
    expires_at = now + int(expires_in) * 1000 if isinstance(expires_in, int) else None
    stored = store.save(key, lease_id, held, secret, expires_at, now)
    stored.refreshed = True
    observability.metric("RefreshSucceeded")
    return stored


@dataclass(frozen=True)
class _Rules:
    """When a credential as read needs no provider call: what one :func:`refresh` call asked for."""

    force: bool
    seen_updated_at: int | None
    buffer_ms: int
    coalesce_ms: int

    def done(self, held: Held, now: int) -> bool:
        """Whether ``held`` already answers this call (refreshed by another caller, or not due)."""
        if not self.force:
            return not is_due(held, now, self.buffer_ms)
        if self.seen_updated_at is not None and held.updated_at > self.seen_updated_at:
            return True  # refreshed (or replaced) since the caller read it
        return recently_refreshed(held, now, self.coalesce_ms)


def recently_refreshed(held: Held, now: int, window_ms: int) -> bool:
    """Whether the provider gave these tokens less than ``window_ms`` ago, and nothing replaced them since."""
    at = held.refreshed_at
    return at is not None and at >= held.updated_at and now - at < window_ms


def _wait_seconds() -> float:
    """How long to wait for another caller's lease: bounded by the request's deadline, if any."""
    left = deadline.remaining()
    if left is None:
        return WAIT_SECONDS
    return max(min(WAIT_SECONDS, left - deadline.RESERVE_SECONDS), 0.0)


def _now_ms(clock: Any) -> int:
    return int(clock.time() * 1000)
