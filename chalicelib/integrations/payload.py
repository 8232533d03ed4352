"""An authentication's payload (Pizzly's tokens object): sealed at rest, with the refresh bookkeeping it implies.

Every writer of new tokens (the REST import and update, the connect flow, a refresh) goes through
:func:`set_payload`, so expiry, the "refresh due" index fields and the failure counters always match
what is stored.
"""

from __future__ import annotations

from typing import Any

from chalicelib.crypto import open_json, seal_json
from chalicelib.integrations.models import Authentication
from chalicelib.oauth import due, grants

AUTHENTICATION_PURPOSE = "integrations/authentication"


def open_payload(item: Authentication) -> dict[str, Any]:
    """The decrypted payload of an authentication."""
    payload: dict[str, Any] = open_json(item.payload, purpose=AUTHENTICATION_PURPOSE, record=item.id)
    return payload


def set_payload(item: Authentication, definition: dict[str, Any], payload: dict[str, Any], now: int) -> None:
    """Seal ``payload`` into ``item``: expiry, due index fields, and a clean refresh record."""
    payload = {**payload, "updatedAt": now}
    expires_in = payload.get("expiresIn")
    expires_at = now + expires_in * 1000 if isinstance(expires_in, int) else None
    item.expires_at = expires_at
    item.payload = seal_json(payload, purpose=AUTHENTICATION_PURPOSE, record=item.id)
    item.due_shard, item.refresh_due_at = due.due_fields(
        item.id, grants.renewable(definition, payload), expires_at, due.buffer_ms(definition)
    )
    item.updated_at = now
    item.refresh_error = None
    item.refresh_attempts = 0
    item.next_attempt_at = None
    item.needs_reconnect = False
