"""The refresh attributes every credential model carries, and the DynamoDB updates that keep them.

A refreshable credential's model (``Authentication``, ``Connection``) has ``lease_id`` and
``lease_until`` (the refresh lease), ``refresh_error``, ``refresh_attempts``, ``next_attempt_at`` and
``needs_reconnect`` (the last failure) and the due index fields of :mod:`chalicelib.oauth.due`
(``due_shard``, ``refresh_due_at``). Each store applies these updates to its own table.
"""

from __future__ import annotations

from typing import Any


def lease(model: Any, lease_id: str, now: int, lease_ms: int) -> tuple[list[Any], Any]:
    """The actions taking the lease, and the condition that the record exists and no lease is held."""
    free = model.lease_until.does_not_exist() | (model.lease_until < now)
    return [model.lease_id.set(lease_id), model.lease_until.set(now + lease_ms)], model.id.exists() & free


def release(model: Any) -> list[Any]:
    """The actions releasing the lease."""
    return [model.lease_id.remove(), model.lease_until.remove()]


def failure(model: Any, error: dict[str, Any], retry_at: int | None, now: int) -> list[Any]:
    """The actions recording a failed refresh and releasing the lease.

    With ``retry_at`` the due index points at the retry; without (the provider refused for good) the
    credential leaves the index and needs reconnecting.
    """
    actions = [model.refresh_error.set({**error, "at": now}), model.refresh_attempts.add(1), *release(model)]
    if retry_at is None:
        return [
            *actions,
            model.needs_reconnect.set(True),
            model.next_attempt_at.remove(),
            model.due_shard.remove(),
            model.refresh_due_at.remove(),
        ]
    return [*actions, model.next_attempt_at.set(retry_at), model.refresh_due_at.set(retry_at)]
