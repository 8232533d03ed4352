"""One ``refresh_worker`` invocation: refresh what is due in the shards the sweep handed over.

The coordinator (:mod:`chalicelib.jobs.refresh_fanout`) sends ``{"shards": [[source, shard], ...],
"stop_at": epoch ms}``. The worker queries only those shards of each source's due index and refreshes
what is due through :func:`chalicelib.jobs.refresh_sweep.run` until the earlier of its Lambda deadline
and ``stop_at``; what it leaves stays in the index for the next sweep. A retried invocation runs the
same shards again: what was refreshed meanwhile is no longer due, and the lease settles any race.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.jobs import refresh_sweep
from chalicelib.jobs.refresh_sweep import Shard

log = logging.getLogger("keyport.sweep")


def work(
    event: dict[str, Any],
    remaining_ms: Callable[[], int],
    *,
    found: Sequence[refresh_sweep.Source] | None = None,
) -> dict[str, Any]:
    """Refresh what is due in the event's shards; the run's report (or why the event was ignored)."""
    parsed = _parse(event)
    if parsed is None:
        log.error("refresh_worker: malformed event %r", {k: event.get(k) for k in ("shards", "stop_at")})
        return {"outcome": "ignored", "reason": "malformed event"}
    shards, stop_at = parsed
    by_name = {source.name: source for source in (found if found is not None else refresh_sweep.sources())}
    wanted: dict[str, list[int]] = {}
    for name, shard in shards:
        if name in by_name and 0 <= shard < by_name[name].shard_count:
            wanted.setdefault(name, []).append(shard)
        else:
            log.warning("refresh_worker: no shard %s of %r; skipped", shard, name)

    def left_ms() -> int:
        return min(remaining_ms(), stop_at - int(time.time() * 1000))

    return refresh_sweep.run(left_ms, only=[by_name[name] for name in wanted], shards=wanted).as_dict()


def _parse(event: dict[str, Any]) -> tuple[list[Shard], int] | None:
    shards, stop_at = event.get("shards"), event.get("stop_at")
    if not isinstance(shards, list) or not isinstance(stop_at, int) or isinstance(stop_at, bool):
        return None
    parsed: list[Shard] = []
    for pair in shards:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and type(pair[1]) is int):
            return None
        parsed.append((pair[0], pair[1]))
    return parsed, stop_at
