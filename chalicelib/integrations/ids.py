"""The form of an authentication id, one rule for the REST API and the connect flow."""

from __future__ import annotations

import uuid

from chalicelib.catalog import ID_PATTERN


def uuid_like(value: str) -> bool:
    """Whether ``value`` is a UUID in its canonical form (no braces, no URN)."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def auth_id_allowed(value: str) -> bool:
    """Whether ``value`` may name an authentication: a canonical UUID, or letters, digits, '-' and '_'."""
    return bool(ID_PATTERN.match(value.lower())) or uuid_like(value)
