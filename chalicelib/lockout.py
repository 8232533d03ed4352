"""One lockout for every sign-in: failures counted per key, then a lock that doubles.

After ``LOGIN_MAX_FAILURES`` (5) failures for one key within 15 minutes, the key is locked for
``LOGIN_LOCKOUT_SECONDS`` (60 s), doubling with each further failure up to 15 minutes; a success
clears the count. The dashboard counts wrong secret keys per client address, the entity store failed
logins per login name: the same mechanism, each over its own table (a :class:`FailureRecord`), its
key a hash so that no address or login is stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.dynamo import Model, is_conditional_failure, translated
from chalicelib.errors import TooManyRequests
from chalicelib.settings import get_settings

FAILURE_WINDOW_MS = 15 * 60 * 1000
LOCK_MAX_SECONDS = 15 * 60


class FailureRecord(Model):
    """Recent failures for one key, and the lock they caused. Each lockout table is a subclass that
    declares its ``Meta`` (``aws.table_meta(..., ttl_attribute="ttl")``)."""

    id = UnicodeAttribute(hash_key=True)
    failures = NumberAttribute(default=0)
    last_failure_at = NumberAttribute()
    locked_until = NumberAttribute(default=0)
    ttl = TTLAttribute()


def _expiry(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True)
class Lockout:
    """Failures counted in ``table``; a locked key answers ``error`` with ``message`` ({seconds} left)."""

    table: type[FailureRecord]
    error: type[TooManyRequests]
    message: str

    def attempt(self, key: str, now: int) -> Attempt:
        """A sign-in attempt for ``key``: refused (``error``, with Retry-After) while the key is locked."""
        with translated():
            try:
                record = self.table.get(key)
            except DoesNotExist:
                return Attempt(self, key, now, on_record=False)
        if int(record.locked_until or 0) > now:
            seconds = max(1, math.ceil((int(record.locked_until) - now) / 1000))
            raise self.error(self.message.format(seconds=seconds), headers={"Retry-After": str(seconds)})
        return Attempt(self, key, now, on_record=True)

    def count_failure(self, key: str, now: int) -> None:
        """Count one failure (a new count when the last one is older than the window); lock at the limit."""
        settings = get_settings()
        keep = _expiry(now + FAILURE_WINDOW_MS + LOCK_MAX_SECONDS * 1000)
        record = self.table(key)
        actions: list[Any] = [self.table.failures.add(1), self.table.last_failure_at.set(now), self.table.ttl.set(keep)]
        try:
            with translated():
                record.update(actions=actions, condition=self.table.last_failure_at >= now - FAILURE_WINDOW_MS)
            failures = int(record.failures)
        except UpdateError as e:
            if not is_conditional_failure(e):
                raise
            with translated():
                self.table(key, failures=1, last_failure_at=now, locked_until=0, ttl=keep).save()
            failures = 1
        if failures >= settings.login_max_failures:
            doublings = min(failures - settings.login_max_failures, 16)
            seconds = min(settings.login_lockout_seconds * 2**doublings, LOCK_MAX_SECONDS)
            with translated():
                self.table(key).update(actions=[self.table.locked_until.set(now + seconds * 1000)])

    def clear(self, key: str) -> None:
        """Forget the failures of a key (after a success)."""
        with translated():
            self.table(key).delete()


@dataclass(frozen=True)
class Attempt:
    """One sign-in attempt that the lockout let through: say how it ended."""

    lockout: Lockout
    key: str
    now: int
    on_record: bool  # whether failures were on record when it started

    def failed(self) -> None:
        self.lockout.count_failure(self.key, self.now)

    def succeeded(self) -> None:
        if self.on_record:
            self.lockout.clear(self.key)
