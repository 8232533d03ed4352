"""ObjectId identifiers: 12 bytes shown as 24 hexadecimal characters, in BSON's layout.

4 bytes of creation time (seconds, big-endian), 5 random bytes chosen once per process, and a 3-byte
counter that starts at a random value and wraps. Ids made by one process sort in creation order.
"""

from __future__ import annotations

import os
import re
import struct
import threading

_PATTERN = re.compile(r"^[0-9a-fA-F]{24}\Z")
_lock = threading.Lock()
_process_bytes = os.urandom(5)
_counter = int.from_bytes(os.urandom(3), "big")


def new_object_id(time_ms: int) -> str:
    """A new ObjectId for something created at ``time_ms`` (milliseconds since the epoch)."""
    global _counter
    with _lock:
        _counter = (_counter + 1) % 0x1000000
        count = _counter
    seconds = (time_ms // 1000) & 0xFFFFFFFF
    return (struct.pack(">I", seconds) + _process_bytes + count.to_bytes(3, "big")).hex()


def is_object_id(value: object) -> bool:
    """Whether ``value`` is 24 hexadecimal characters (either case)."""
    return isinstance(value, str) and _PATTERN.match(value) is not None


def timestamp_of(object_id: str) -> int:
    """The creation second an ObjectId carries."""
    return int(object_id[:8], 16)
