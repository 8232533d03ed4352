"""A store of 25,000 entities, listed in pages of up to 10,000 with offset/limit, filtered by creation time.

The entities are written straight into the table with PynamoDB batch writes (the API would take minutes
on moto); they are built by the service's own ``new_entity``, one second apart.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from tests.support.entities_stack import Platform

COUNT = 25_000
BASE = 1_567_285_200_000  # the document's example: 2019-08-31T21:00:00Z


def test_25000_entities_page_by_offset_and_filter_by_time(platform: Platform) -> None:
    from chalicelib.entities.models import Entity
    from chalicelib.entities.service import new_entity

    platform.add_user("ann", "ops")
    ann = platform.sign_in("ann")
    me = platform.call("GET", "/api/v1/auth", headers=ann).body

    started = time.monotonic()
    with Entity.batch_write() as batch:
        for n in range(COUNT):
            batch.save(new_entity("readings", me["_id"], me["group"], {"n": n}, BASE + n * 1000))
    written = time.monotonic() - started

    def listed(query: str) -> list[int]:
        reply = platform.call("GET", f"/api/v1/readings?{query}", headers=ann)
        assert reply.status == 200, reply.text
        return [entity["n"] for entity in reply.body]

    assert listed("only=n") == list(range(10_000))  # at most 10,000 per request
    assert listed("offset=10000&limit=10000&only=n") == list(range(10_000, 20_000))
    assert listed("offset=20000&only=n") == list(range(20_000, COUNT))

    window = f"from={BASE + 100_000}&to={BASE + 199_000}"
    assert listed(window) == list(range(100, 200))
    assert listed(f"{window}&offset=50&limit=10") == list(range(150, 160))
    iso = datetime.fromtimestamp((BASE + 24_000_000) / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M")
    assert listed(f"begin={iso}&offset=990&only=n") == list(range(24_990, COUNT))
    assert listed(f"begin={iso}&offset=1000") == []

    meta = platform.call("GET", f"/api/v1/readings?meta=true&only=n&{window}", headers=ann).body
    assert meta == {"count": 100, "first": {"_id": meta["first"]["_id"], "n": 100}, "last": meta["last"]}
    assert meta["last"]["n"] == 199
    print(f"wrote {COUNT} entities in {written:.1f} s; listed in {time.monotonic() - started - written:.1f} s")
