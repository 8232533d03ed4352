"""Rules the credential broker's three sides share: operators, the customer API and the runtime fetch.

Statuses, errors, the optimistic retry of read-then-write operations, ids, which catalog integration a
provider name means (and how early its tokens are refreshed), and removing a connection. Operators'
rules are in ``admin.py``, the customer API's in ``connections.py``, the runtime fetch in ``runtime.py``.
Nothing here imports pydantic: the runtime fetch shares this module and stays light.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from chalicelib import catalog
from chalicelib.broker import repository
from chalicelib.errors import NotFound, ServiceUnavailable
from chalicelib.oauth import due

CONNECTION_PURPOSE = "broker/connection"
API_KEY_PREFIX = "kpc_"
PROXY_KEY_PREFIX = "kpi_"
ACTIVE = repository.ACTIVE
ERROR = "error"
RECONNECT_REQUIRED = "reconnect_required"
MAX_GRANTS_PER_CONNECTION = 50  # a refresh rewrites the connection and every grant in one transaction (<= 100)
NAME_MAX = 255
_CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_ATTEMPTS = 4
# Provider names the broker's customers use for catalog integrations of another id.
CATALOG_ALIASES = {"gmail": "google-mail"}

BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class UnknownCustomer(NotFound):
    code = "unknown_customer"
    default_message = "No customer has this id."


class UnknownInstance(NotFound):
    code = "unknown_instance"
    default_message = "Instance not found."


class UnknownConnection(NotFound):
    code = "unknown_connection"
    default_message = "Connection not found."


class UnknownGrant(NotFound):
    code = "unknown_grant"
    default_message = "Grant not found."


class Busy(ServiceUnavailable):
    code = "busy"
    default_message = "The record kept changing while this request ran; try again."


def optimistic(operation: Callable[[], bool]) -> None:
    """Run a read-then-conditional-write ``operation`` until its conditions hold; 503 if they never do."""
    for attempt in range(_ATTEMPTS):
        if operation():
            return
        time.sleep(0.02 * (attempt + 1))
    raise Busy()


def canonical_id(value: str) -> str | None:
    """A UUID in canonical form, or None when ``value`` is not one (operator routes answer 404)."""
    try:
        return str(uuid.UUID(value)) if len(value) <= 45 else None
    except ValueError:
        return None


def path_ids(**values: str) -> dict[str, str]:
    """The UUID path parameters of a customer API route, canonical; 422 as FastAPI answers."""
    if all(_CANONICAL_UUID.match(value) for value in values.values()):
        return dict(values)
    from chalicelib.broker import schemas  # pydantic: only for an id not in canonical form (cold start)

    return schemas.path_ids(**values)


def catalog_integration(provider: str) -> tuple[str, dict[str, Any]] | None:
    """The catalog integration (id, definition) a provider name means, or None (``gmail`` is ``google-mail``)."""
    candidates = dict.fromkeys(
        c
        for c in (CATALOG_ALIASES.get(provider.lower()), provider, provider.lower(), provider.lower().replace("_", "-"))
        if c and catalog.valid_id(c)
    )
    for candidate in candidates:
        try:
            return candidate, catalog.get(candidate)
        except catalog.UnknownIntegration:
            continue
    return None


def refresh_buffer_ms(integration: str | None) -> int:
    """How long before expiry a connection of this integration is refreshed."""
    if integration is not None:
        try:
            return due.buffer_ms(catalog.get(integration))
        except catalog.UnknownIntegration:
            pass
    return due.buffer_ms(None)


def remove_connection(customer_id: str, connection_id: str) -> None:
    """Delete a connection and its grants, re-reading it until no grant races the deletion."""

    def attempt() -> bool:
        connection = repository.get_connection(customer_id, connection_id)
        return connection is None or repository.delete_connection(connection)

    optimistic(attempt)
