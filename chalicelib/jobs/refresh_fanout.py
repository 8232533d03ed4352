"""The refresh sweep, fanned out: the scheduled coordinator hands the due index's shards to parallel workers.

Every run of ``refresh_sweep`` (the coordinator) deals the shards of every source's due index, as
``(source, shard)`` pairs, round-robin over ``REFRESH_SWEEP_WORKERS`` asynchronous invocations of
``refresh_worker`` (:mod:`chalicelib.jobs.refresh_worker`) and returns; it reads no table. Each worker
queries only its shards and refreshes what is due through the one refresh function until its deadline:
the earlier of its Lambda deadline and the event's ``stop_at``, which falls before the next sweep
starts, so one sweep's workers do not compete with the next one's. The worker's module does not
import this one, so only the coordinator may invoke workers.

Nothing is refreshed twice: the refresh function leases each credential with a conditional write and
checks again under the lease that it is still due, so a second worker on the same shard, an overlapping
run or a retried invocation finds it refreshed and skips it. Nothing is lost: a credential leaves the
due index only when its refresh is stored, so what a dead or late worker did not refresh is found by the
next sweep, and Lambda retries a failed invocation once (its EventInvokeConfig). Why asynchronous
invocations rather than SQS: docs/refresh.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.errors import ServiceUnavailable
from chalicelib.jobs import refresh_sweep
from chalicelib.jobs.invoke import invoke_async
from chalicelib.settings import get_settings

log = logging.getLogger("keyport.sweep")

WORKER = "refresh_worker"
PERIOD_MS = 5 * 60 * 1000  # the coordinator's schedule (chalicelib/jobs/functions.py)
STOP_BEFORE_NEXT_MS = 30_000  # a worker stops this long before the next sweep starts


def all_shards(found: Sequence[refresh_sweep.Source]) -> list[refresh_sweep.Shard]:
    """Every (source name, shard) pair, source by source."""
    return [(source.name, n) for source in found for n in range(source.shard_count)]


def plan(shards: Sequence[refresh_sweep.Shard], workers: int) -> list[list[refresh_sweep.Shard]]:
    """Deal ``shards`` round-robin over ``workers`` invocations (fewer when there are fewer shards): dealt
    source by source, each worker gets its share of every source's shards, whatever source is busy."""
    count = min(max(workers, 1), len(shards))
    return [list(shards[i::count]) for i in range(count)]


def coordinate(
    remaining_ms: Callable[[], int],
    *,
    now_ms: int | None = None,
    found: Sequence[refresh_sweep.Source] | None = None,
) -> dict[str, Any]:
    """The scheduled sweep: hand every shard to a worker invocation (with 0 workers, refresh them here)."""
    workers = get_settings().refresh_sweep_workers
    if workers <= 0:
        return refresh_sweep.run(remaining_ms, now_ms=now_ms, only=found).as_dict()
    now = now_ms if now_ms is not None else _now_ms()
    stop_at = now + PERIOD_MS - STOP_BEFORE_NEXT_MS
    batches = plan(all_shards(found if found is not None else refresh_sweep.sources()), workers)
    failed = 0
    for batch in batches:
        try:
            invoke_async(WORKER, {"shards": [list(shard) for shard in batch], "stop_at": stop_at})
        except ServiceUnavailable:
            # Its shards wait for the next sweep: a credential stays in the due index until refreshed.
            failed += 1
            log.warning("a refresh worker could not be invoked; its shards wait for the next sweep: %s", batch)
    result = {"workers": len(batches) - failed, "failed": failed, "shards": sum(map(len, batches)), "stop_at": stop_at}
    # The same form as a worker's closing line, so that the refresh failure alarm counts failed hand-offs too.
    log.info("refresh sweep: %s", result)
    return result


def _now_ms() -> int:
    return int(time.time() * 1000)
