"""One HTTP answer as the tests read it, whichever API gave it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class JsonAnswer:
    """One HTTP answer: status, headers (as the test client gives them) and the decoded JSON body (None when empty)."""

    status: int
    headers: dict[str, Any]
    body: Any
    raw: bytes

    def header(self, name: str) -> str | None:
        """A header's value, whatever the case of its name."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return str(value)
        return None
