"""What a build or a repository update reports: its output, and a failure the user can act on."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_OUTPUT = 32_000


class BuildFailed(Exception):
    """A build or update that failed for a reason the user can act on (the message says which)."""


@dataclass
class BuildLog:
    """The build's output, kept on the item for superusers."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)

    def text(self) -> str:
        text = "\n".join(self.lines)
        return text if len(text) <= MAX_OUTPUT else "[earlier output cut]\n" + text[-MAX_OUTPUT:]
