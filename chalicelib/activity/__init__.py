"""The activity log: operator-visible events, kept 30 days (TTL); the dashboard's activity page reads it.

Services call :func:`record` after the work it describes has succeeded: one PutItem at once. A refresh
sweep records into a :class:`Batch` instead, written 25 entries a BatchWriteItem call. Neither raises:
losing one line of the log is better than failing, or slowing, the work it describes. It sits below the
services, which write it, and the dashboard, which reads it.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chalicelib.activity.models import ActivityEvent

# The table's model (and with it PynamoDB and botocore) is imported on first use, not here: the sweep's
# coordinator names this module but writes nothing, and its cold start stays without them.

log = logging.getLogger("keyport")

KEEP_DAYS = 30
DAYS_LISTED = 2  # a page reads at most two days' partitions; "Older events" steps further back

# What each kind of event is called on the activity page.
KINDS = {
    "authentication.created": "Authentication created",
    "authentication.reconnected": "Authentication reconnected",
    "authentication.refreshed": "Authentication refreshed",
    "authentication.refresh_failed": "Refresh failed",
    "authentication.revealed": "Authentication revealed",
    "authentication.deleted": "Authentication deleted",
    "configuration.saved": "Configuration saved",
    "configuration.deleted": "Configuration deleted",
    "definition.deleted": "Custom integration deleted",
    "broker.customer_key_rotated": "Customer API key rotated",
    "broker.customer_deleted": "Customer deleted",
    "broker.instance_key_rotated": "Instance proxy key rotated",
    "broker.instance_deleted": "Instance deleted",
    "publishing.user_key_rotated": "Publishing API key rotated",
    "publishing.member_removed": "Publishing member removed",
    "entities.user_deleted": "Entity-store user deleted",
    "entities.group_deleted": "Entity-store group deleted",
    "dashboard.signed_in": "Signed in",
    "dashboard.sign_in_refused": "Sign-in refused",
    "dashboard.signed_out": "Signed out",
}


@dataclass(frozen=True)
class Event:
    """One event as the activity page shows it."""

    at: int
    kind: str
    actor: str
    subject: str
    detail: str | None
    key: str = ""  # its sort key in the table: where a page that ends with it continues

    @property
    def label(self) -> str:
        return KINDS.get(self.kind, self.kind)

    @property
    def tone(self) -> str:
        if self.kind.endswith(("failed", "refused")):
            return "bad"
        if self.kind.endswith(("revealed", "deleted", "removed", "rotated")):
            return "warn"
        return "good"


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


class Recorder(Protocol):
    """Where a writer's events go: :func:`record` (at once) or a :class:`Batch`'s ``record`` (later)."""

    def __call__(
        self, kind: str, actor: str, subject: str, detail: str | None = None, *, at: int | None = None
    ) -> None: ...


def _entry(kind: str, actor: str, subject: str, detail: str | None, at: int | None) -> ActivityEvent:
    from chalicelib.activity.models import ActivityEvent

    now = at if at is not None else int(time.time() * 1000)
    return ActivityEvent(
        _day(now),
        f"{now:013d}#{secrets.token_hex(4)}",
        at=now,
        kind=kind,
        actor=actor[:100],
        subject=subject[:300],
        detail=detail[:500] if detail else None,
        ttl=datetime.fromtimestamp(now / 1000, tz=UTC) + timedelta(days=KEEP_DAYS),
    )


def record(kind: str, actor: str, subject: str, detail: str | None = None, *, at: int | None = None) -> None:
    """Log one event now (one PutItem); any failure is logged and swallowed."""
    try:
        _entry(kind, actor, subject, detail, at).save()
    except Exception:
        log.warning("activity event %s on %s was not recorded", kind, subject[:100], exc_info=True)


class Batch:
    """Events kept to be written together: each full batch of 25 (one BatchWriteItem) as it fills, the
    rest by :meth:`flush`, or when the ``with`` block ends. Safe across threads (a sweep's refreshes).

    A failed write is logged and its events dropped, as :func:`record` does; only the items DynamoDB
    leaves unprocessed are sent again (by PynamoDB, in the same flush). Events not yet written are
    kept in memory only: a process that dies before the flush (a Lambda killed at its timeout) loses them.
    """

    SIZE = 25  # the most items one BatchWriteItem call takes

    def __init__(self) -> None:
        self._pending: list[ActivityEvent] = []
        self._lock = threading.Lock()

    def record(self, kind: str, actor: str, subject: str, detail: str | None = None, *, at: int | None = None) -> None:
        """Keep one event; write the batch when it is full. Never raises, as :func:`record`."""
        try:
            event = _entry(kind, actor, subject, detail, at)
        except Exception:
            log.warning("activity event %s on %s was not recorded", kind, subject[:100], exc_info=True)
            return
        with self._lock:
            self._pending.append(event)
            full = self._take() if len(self._pending) >= self.SIZE else []
        _write(full)

    def flush(self) -> None:
        """Write every event kept so far."""
        with self._lock:
            pending = self._take()
        _write(pending)

    def _take(self) -> list[ActivityEvent]:
        taken, self._pending = self._pending, []
        return taken

    def __enter__(self) -> Batch:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.flush()  # also when the work failed: what was done before is logged


def _write(events: list[ActivityEvent]) -> None:
    """Put ``events`` with BatchWriteItem (25 a call); any failure is logged and swallowed."""
    if not events:
        return
    from chalicelib.activity.models import ActivityEvent

    try:
        with ActivityEvent.batch_write() as batch:
            for event in events:
                batch.save(event)
    except Exception:
        log.warning("%d activity events were not recorded", len(events), exc_info=True)


_CURSOR = re.compile(r"([0-9]{1,13})(?:-([0-9a-f]{8}))?")


def cursor(text: str | None) -> str | None:
    """The sort key a page starts below, from the query's cursor: milliseconds, or the last shown event's
    key written ``ms-suffix`` (URL-safe); None if the text is not a cursor."""
    found = _CURSOR.fullmatch(text) if text else None
    if found is None:
        return None
    ms, suffix = found.groups()
    return f"{int(ms):013d}" + (f"#{suffix}" if suffix else "")


def recent(limit: int, before: str | None, now: int) -> tuple[list[Event], str | None]:
    """Up to ``limit`` events below the sort key ``before`` (see :func:`cursor`), newest first; and the next
    page's cursor: the last shown event's key, so events of the same millisecond are not skipped."""
    from chalicelib.activity.models import ActivityEvent
    from chalicelib.dynamo import translated

    events: list[Event] = []
    start = before if before is not None else f"{now + 1:013d}"
    day = datetime.fromtimestamp(int(start[:13]) / 1000, tz=UTC).date()
    oldest = datetime.fromtimestamp(now / 1000, tz=UTC).date() - timedelta(days=KEEP_DAYS)
    for _ in range(DAYS_LISTED):
        if day < oldest or len(events) > limit:
            break
        with translated():
            items = ActivityEvent.query(
                day.isoformat(),
                ActivityEvent.sk < start,
                scan_index_forward=False,
                limit=limit + 1 - len(events),
                page_size=limit + 1 - len(events),
            )
            events.extend(_event(item) for item in items)
        day -= timedelta(days=1)
    if len(events) > limit:
        return events[:limit], events[limit - 1].key.replace("#", "-")
    # Fewer than a page in the days read: the next page starts where they end, until the log's start.
    day_start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000) + 86400_000
    return events, f"{day_start:013d}" if day >= oldest else None


def _event(item: Any) -> Event:
    return Event(int(item.at), item.kind, item.actor, item.subject, item.detail, item.sk)
