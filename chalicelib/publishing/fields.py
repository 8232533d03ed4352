"""Checks of the publishing API's body fields and list filters, and the page of a list they select.

A check appends what is wrong to ``problems`` and returns None, so one answer names every problem
(``refuse`` raises them together as one 400, as Autotune did).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib import errors

TYPES = ("graphic", "app")
MAX_DATA_BYTES = 200_000
MAX_TITLE = 200


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


# --- body fields ----------------------------------------------------------------------------------


def title(value: Any, problems: list[str], *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append("Title can't be blank")
        return None
    if not isinstance(value, str) or len(value) > MAX_TITLE:
        problems.append(f"Title must be a string of at most {MAX_TITLE} characters")
        return None
    return value.strip()


def slug(value: Any, problems: list[str]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 200:
        problems.append("Slug must be a string of at most 200 characters")
        return None
    return value


def data(value: Any, problems: list[str], name: str = "Data") -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append(f"{name} must be an object")
        return None
    if len(json.dumps(value, separators=(",", ":"))) > MAX_DATA_BYTES:
        problems.append(f"{name} must be at most {MAX_DATA_BYTES} bytes of JSON")
        return None
    return value


def choice(value: Any, choices: tuple[str, ...], name: str, problems: list[str]) -> str | None:
    if value is None:
        return None
    if value not in choices:
        problems.append(f"{name} must be one of {', '.join(choices)}")
        return None
    return str(value)


def basics(
    body: dict[str, Any], problems: list[str], *, required: bool
) -> tuple[str | None, str | None, dict[str, Any] | None]:
    """The title (required on create), requested slug and data of a project or theme body, in that order."""
    return (
        title(body.get("title"), problems, required=required),
        slug(body.get("slug"), problems),
        data(body.get("data"), problems),
    )


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
