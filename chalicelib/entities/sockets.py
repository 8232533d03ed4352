"""Sending on the entity store's websockets through API Gateway's management API.

One text frame, a close, and entity events: ``42["<store>:created|updated|deleted", entity]`` goes to every
connection of a user who may read the entity, found through the connections' indexes by user and by group,
by the ``ws_push`` function, off the request path. The websocket's own handlers are in
:mod:`chalicelib.entities.realtime`; the entity rules (who may read) in :mod:`chalicelib.entities.service`.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from json.encoder import encode_basestring
from typing import Any

from chalicelib import aws
from chalicelib.entities import jsontext, repository
from chalicelib.entities.models import Entity
from chalicelib.errors import KeyportError
from chalicelib.jobs.invoke import invoke_async

log = logging.getLogger("keyport.entities.realtime")

FRAME_MAX_BYTES = 128 * 1024  # API Gateway's limit for one websocket message
PUSH_THREADS = 8
PUSH_FUNCTION = "ws_push"
USER, GROUP, ANY = "user", "group", "any"  # whose connections an event goes to: a user's, a group's, either


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def send(endpoint: str, connection_id: str, text: str) -> bool:
    """Send one text frame; False when the connection is gone (410)."""
    from botocore.exceptions import ClientError

    try:
        aws.management_client(endpoint).post_to_connection(ConnectionId=connection_id, Data=text.encode("utf-8"))
    except ClientError as e:
        if _error_code(e) == "GoneException":
            return False
        raise
    return True


def close(endpoint: str, connection_id: str) -> None:
    """Close a connection (API Gateway then sends $disconnect); a connection already gone is fine."""
    from botocore.exceptions import ClientError

    try:
        aws.management_client(endpoint).delete_connection(ConnectionId=connection_id)
    except ClientError as e:
        if _error_code(e) != "GoneException":
            raise


# --- entity events --------------------------------------------------------------------------------------


def _frame(event: str, store: str, entity: Entity) -> str:
    name = encode_basestring(f"{store}:{event}")
    frame = f"42[{name},{entity.doc}]"
    if len(frame.encode("utf-8")) <= FRAME_MAX_BYTES:
        return frame
    # Too large for one websocket message: the system fields, and a flag to fetch the rest.
    document = jsontext.stored(str(entity.doc))
    summary = {name: document.get(name) for name in ("_id", "owner", "group", "access", "branch", "time")}
    summary["_truncated"] = True
    return f"42[{name},{jsontext.dumps(summary)}]"


def notify(event: str, store: str, entity: Entity, targets: list[list[str]]) -> None:
    """Queue the push of an entity event to ``targets`` ([principal, USER | GROUP | ANY], its readers);
    a failure is logged, not raised."""
    try:
        invoke_async(PUSH_FUNCTION, {"frame": _frame(event, store, entity), "targets": targets})
    except KeyportError:
        log.warning("the %s event of entity %s could not be queued", event, entity.id)


def push(payload: dict[str, Any]) -> dict[str, int]:
    """ws_push: send one frame to every connection of the given users and groups."""
    frame = str(payload.get("frame", ""))
    endpoints: dict[str, str] = {}
    for principal, kind in payload.get("targets", []):
        for connection in repository.connections_of(principal, user=kind in (USER, ANY), group=kind in (GROUP, ANY)):
            endpoints[connection.id] = connection.endpoint
    if not frame or not endpoints:
        return {"sent": 0, "gone": 0}

    def deliver(item: tuple[str, str]) -> bool | None:
        connection_id, endpoint = item
        try:
            if send(endpoint, connection_id, frame):
                return True
            repository.delete_connection(connection_id)
            return False
        except Exception:  # one unreachable connection must not stop the others
            log.exception("push to websocket %s failed", connection_id)
            return None

    with ThreadPoolExecutor(max_workers=min(PUSH_THREADS, len(endpoints))) as pool:
        results = list(pool.map(deliver, endpoints.items()))
    return {"sent": results.count(True), "gone": results.count(False)}


def close_user_connections(user_id: str) -> int:
    """Close every websocket of a user (the user was removed); how many."""
    closed = 0
    for connection in repository.connections_of(user_id, user=True, group=False):
        try:
            close(connection.endpoint, connection.id)
        except Exception:
            log.exception("closing websocket %s failed", connection.id)
        repository.delete_connection(connection.id)
        closed += 1
    return closed
