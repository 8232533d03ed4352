"""Checks of the publishing API's list filters, the page of a list they select, and the 400 of a body's problems.

A check appends what is wrong to ``problems`` and returns None, so one answer names every problem
(``refuse`` raises them together as one 400, as Autotune did). Body fields are checked by their request
models (``bodies.checked``), whose messages the services join the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib import errors

TYPES = ("graphic", "app")


@dataclass(frozen=True)
class Paging:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass
class Listing:
    """One page of a list and the total it was cut from."""

    items: list[dict[str, Any]]
    total: int
    paging: Paging


def refuse(problems: list[str]) -> None:
    """400 naming every problem found, if any."""
    if problems:
        raise errors.BadRequest(", ".join(problems), code="invalid")


def choice(value: Any, choices: tuple[str, ...], name: str, problems: list[str]) -> str | None:
    if value is None:
        return None
    if value not in choices:
        problems.append(f"{name} must be one of {', '.join(choices)}")
        return None
    return str(value)


# --- list filters ---------------------------------------------------------------------------------


def all_of(conditions: Iterable[Any]) -> Any:
    """The conditions given (None ones left out) joined with AND; None when there are none."""
    combined = None
    for condition in conditions:
        if condition is not None:
            combined = condition if combined is None else combined & condition
    return combined


def search_term(value: str | None) -> str | None:
    return value.strip().lower() if value and value.strip() else None
