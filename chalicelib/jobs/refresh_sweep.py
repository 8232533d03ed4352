"""The refresh sweep's work: refresh every credential due within the next window, before it goes stale.

Each kind of credential (Pizzly authentications, broker connections) keeps a sparse, sharded
"refresh due" index; :func:`run` queries the shards it is given for what is due up to ``now + window``
(so its cost follows the number due, never the table), refreshes concurrently through the one refresh
function, and stops taking new work before its deadline, leaving the rest to the next run. The
refreshes' activity-log entries are written together (25 a call) as they accumulate and when the run ends,
and their metrics as one EMF line (counts summed) when it ends.
:mod:`chalicelib.jobs.refresh_fanout` hands the shards to parallel worker invocations
(:mod:`chalicelib.jobs.refresh_worker`).
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib import activity, observability, services
from chalicelib.errors import KeyportError
from chalicelib.oauth import refresh as refreshing

log = logging.getLogger("keyport.sweep")

WINDOW_MS = 10 * 60 * 1000  # twice the schedule, so one missed run costs nothing
WORKERS = 16
SAFETY_MS = 25_000  # stop starting refreshes this long before the deadline

Shard = tuple[str, int]  # (source name, shard number) of a due index


class Source(Protocol):
    """A kind of refreshable credential."""

    name: str
    shard_count: int  # its due index's shards are numbered 0 .. shard_count - 1

    def due(self, until_ms: int, shards: Iterable[int] | None = None) -> Iterator[tuple[str, int]]:
        """(key, expires_at) of every credential in ``shards`` (None: all) whose refresh is due by ``until_ms``."""

    def store(self, entries: activity.Batch) -> refreshing.Store:
        """The refresh function's store for this kind, for one sweep whose activity entries are ``entries``."""


@dataclass
class Report:
    """What one sweep did."""

    selected: int = 0
    refreshed: int = 0
    skipped: int = 0
    failed: int = 0
    left: int = 0
    by_source: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "selected": self.selected,
            "refreshed": self.refreshed,
            "skipped": self.skipped,
            "failed": self.failed,
            "left": self.left,
            "by_source": self.by_source,
        }


def sources() -> list[Source]:
    """Every kind of credential the sweep covers: the refresh sources the services declare."""
    return services.refresh_sources()


@observability.metrics_batch()
def run(
    remaining_ms: Callable[[], int],
    *,
    now_ms: int | None = None,
    window_ms: int = WINDOW_MS,
    workers: int = WORKERS,
    only: Sequence[Source] | None = None,
    shards: Mapping[str, Sequence[int]] | None = None,
) -> Report:
    """Refresh what is due (in ``shards``, by source name: None for all); ``remaining_ms`` tells how long
    the invocation may still run. Its metrics (every refresh's and the sweep's) make one EMF line."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    report = Report()
    oldest: int | None = None  # the earliest expiry among what was due
    pending: set[Future[str]] = set()
    # The pool is shut down (every refresh done) before the entries are flushed.
    with activity.Batch() as entries, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep") as pool:
        for source in only if only is not None else sources():
            store = source.store(entries)
            count = 0
            wanted = None if shards is None else shards.get(source.name, ())
            if wanted is not None and not wanted:
                continue
            for key, expires_at in source.due(now + window_ms, wanted):
                count += 1
                report.selected += 1
                oldest = expires_at if oldest is None else min(oldest, expires_at)
                if remaining_ms() < SAFETY_MS:
                    report.left += 1
                    continue
                while len(pending) >= workers * 2:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    _tally(done, report)
                # "Due" means: still expiring no later than when it was selected.
                buffer = max(expires_at - now, 0) + 1
                # In a copy of this context, so that the refresh's metrics join the sweep's batch.
                pending.add(pool.submit(contextvars.copy_context().run, _refresh_one, store, key, buffer))
            report.by_source[source.name] = count
        done, _ = wait(pending)
        _tally(done, report)
    log.info("refresh sweep: %s", report.as_dict())
    # Lag: how long the most overdue credential had been expired when the sweep found it (0 when on time),
    # and what it left for the next run.
    observability.metric("SweepOverdue", max(now - oldest, 0) if oldest is not None else 0, "Milliseconds")
    observability.metric("SweepSelected", report.selected)
    observability.metric("SweepLeft", report.left)
    return report


def _refresh_one(store: refreshing.Store, key: str, buffer_ms: int) -> str:
    try:
        held = refreshing.refresh(store, key, force=False, buffer_ms=buffer_ms)
    except refreshing.RefreshFailed:
        return "failed"
    except KeyportError as e:
        log.warning("a scheduled refresh did not run: %s", e.error_code)
        return "failed"
    return "refreshed" if held.refreshed else "skipped"


def _tally(done: set[Future[str]], report: Report) -> None:
    for future in done:
        outcome = future.result()
        if outcome == "refreshed":
            report.refreshed += 1
        elif outcome == "skipped":
            report.skipped += 1
        else:
            report.failed += 1
