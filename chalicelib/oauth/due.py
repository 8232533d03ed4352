"""The "refresh due" index every kind of refreshable credential keeps, and the buffer it is due by.

A credential that can be renewed without its user carries two attributes, ``due_shard`` (``due#N``,
N < :data:`DUE_SHARDS`, from a hash of its id) and ``refresh_due_at`` (expiry minus the buffer). A
sparse GSI on them lets the sweep read, shard by shard, only what is due: its cost follows the
number due, never the number stored. Authentications and broker connections share this shape, so
one sweep reads both tables alike.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from chalicelib.settings import get_settings

DUE_SHARDS = 8


def shard_keys(numbers: Iterable[int] | None = None) -> list[str]:
    """The index's hash keys of shards ``numbers`` (None: every shard), one Query each."""
    return [f"due#{n}" for n in (range(DUE_SHARDS) if numbers is None else numbers)]


def due_fields(key: str, renewable: bool, expires_at: int | None, buffer_ms: int) -> tuple[str | None, int | None]:
    """The index fields of a credential: (shard, due time), or (None, None) when it is never due."""
    if expires_at is None or not renewable:
        return None, None
    return f"due#{zlib.crc32(key.encode()) % DUE_SHARDS}", expires_at - buffer_ms


def buffer_ms(definition: dict[str, Any] | None) -> int:
    """How long before expiry an integration's tokens are refreshed (``None``: no definition, the default)."""
    seconds = (definition or {}).get("auth", {}).get("refreshBufferSeconds") or get_settings().refresh_buffer_seconds
    return int(seconds) * 1000
