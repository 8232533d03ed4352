"""Finding the projects, blueprints, themes and groups a caller names, by id or by slug."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from chalicelib import errors
from chalicelib.http import parse_id
from chalicelib.publishing import builds, repository, slugs
from chalicelib.publishing.accounts import find_group
from chalicelib.publishing.models import Blueprint, Group, Project, Theme

M = TypeVar("M")


class UnknownProject(errors.NotFound):
    code = "unknown_project"
    default_message = "No project has this id or slug."


class UnknownBlueprint(errors.NotFound):
    code = "unknown_blueprint"
    default_message = "No blueprint has this id or slug."


class UnknownTheme(errors.NotFound):
    code = "unknown_theme"
    default_message = "No theme has this id or slug."


def find(model: type[M], kind: str, ref: Any) -> M | None:
    """The item an id (ASCII digits) or a slug names, or None."""
    if isinstance(ref, bool) or not isinstance(ref, str | int):
        return None
    text = str(ref).strip()
    number = parse_id(text)
    if number is not None:
        return repository.get(model, number)
    if not text or len(text) > 200 or slugs.reads_as_id(text):
        return None
    return repository.get_by_slug(model, kind, text.lower())


def find_project(ref: str) -> Project:
    found = find(Project, "project", ref)
    if found is None:
        raise UnknownProject(f"No project has the id or slug '{ref[:200]}'.")
    return builds.expire_if_overdue(found)


def find_blueprint(ref: str) -> Blueprint:
    found = find(Blueprint, "blueprint", ref)
    if found is None:
        raise UnknownBlueprint(f"No blueprint has the id or slug '{ref[:200]}'.")
    return builds.expire_if_overdue(found)


def find_theme(ref: str) -> Theme:
    found = find(Theme, "theme", ref)
    if found is None:
        raise UnknownTheme(f"No theme has the id or slug '{ref[:200]}'.")
    return found


# --- named in a body or a filter: a problem when there is none --------------------------------------


def _named(finder: Callable[[Any], M | None], kind: str, value: Any, problems: list[str]) -> M | None:
    found = finder(value)
    if found is None:
        problems.append(f"{kind.capitalize()} '{str(value)[:200]}' does not exist")
    return found


def _group_or_none(ref: Any) -> Group | None:
    try:
        return find_group(ref)
    except errors.NotFound:
        return None


def named_theme(value: Any, problems: list[str]) -> Theme | None:
    return _named(lambda ref: find(Theme, "theme", ref), "theme", value, problems)


def named_blueprint(value: Any, problems: list[str]) -> Blueprint | None:
    return _named(lambda ref: find(Blueprint, "blueprint", ref), "blueprint", value, problems)


def named_group(value: Any, problems: list[str]) -> Group | None:
    return _named(_group_or_none, "group", value, problems)
