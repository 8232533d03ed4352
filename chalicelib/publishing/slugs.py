"""Slugs: made from titles as Autotune made them (lowercase, ``[0-9a-z-_]``)."""

from __future__ import annotations

import re
import unicodedata

MAX_LENGTH = 80
_UNSAFE = re.compile(r"[^0-9a-z_-]+")
_DASHES = re.compile(r"-{2,}")
_DIGITS = re.compile(r"[0-9]+")


def reads_as_id(text: str) -> bool:
    """Whether ``text`` is ASCII digits only: in ``{id}`` paths that is an id (or nothing), never a slug."""
    return _DIGITS.fullmatch(text) is not None


def slug_from(text: str, kind: str) -> str:
    """A slug from a title or a requested slug: accents dropped, lowercase, runs of other characters as '-'.

    A slug made only of digits would read as an id in ``{id}`` paths, so it gets the kind in front
    (``blueprint-2024``); an empty one is the kind itself.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _DASHES.sub("-", _UNSAFE.sub("-", ascii_text.lower())).strip("-")[:MAX_LENGTH].strip("-")
    if not slug:
        return kind
    if reads_as_id(slug):
        return f"{kind}-{slug}"
    return slug


def with_theme(slug: str, theme_slug: str) -> str:
    """A project slug starts with its theme's slug."""
    if slug == theme_slug or slug.startswith(theme_slug + "-"):
        return slug
    return f"{theme_slug}-{slug}"[: MAX_LENGTH + len(theme_slug) + 1]


def sans_theme(slug: str, theme_slug: str) -> str:
    """The project slug without its leading theme slug."""
    prefix = theme_slug + "-"
    return slug[len(prefix) :] if slug.startswith(prefix) else slug
