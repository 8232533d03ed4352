"""The socket.io websocket (Engine.IO protocol 3) on API Gateway's WebSocket API.

``$connect`` checks the caller (sid cookie, ``?token=`` or ``Authorization: Bearer``) and stores the
connection. It cannot send, so it asks the ``ws_open`` function (an asynchronous invocation) to send the
Engine.IO open packet and the Socket.IO ``40``. ``$default`` answers each ping ``2`` with ``3`` (``2probe``
with ``3probe``) and records the ping. ``$disconnect`` forgets the connection. A scheduled sweep closes
connections that have not pinged for pingInterval + pingTimeout, reading a GSI of last-ping times.

Entity events go out through :mod:`chalicelib.entities.sockets`, which also sends and closes for this module.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Callable
from typing import Any

from chalicelib.crypto import new_key
from chalicelib.entities import repository
from chalicelib.entities.models import Connection
from chalicelib.entities.sockets import close, send
from chalicelib.errors import KeyportError, Unauthorized
from chalicelib.http import now_ms
from chalicelib.jobs.invoke import invoke_async
from chalicelib.settings import get_settings

log = logging.getLogger("keyport.entities.realtime")

PING_SHARDS = 4
CONNECTION_MAX_SECONDS = 2 * 3600 + 600  # API Gateway closes connections after 2 hours
OPEN_RETRY_DELAYS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.0, 1.0)
SWEEP_BATCH = 100
SWEEP_RESERVE_MS = 5000

OPEN_FUNCTION = "ws_open"


# --- the management API ------------------------------------------------------------------------------


def management_endpoint(request_context: dict[str, Any]) -> str:
    """Where to reach a connection: WEBSOCKET_MANAGEMENT_URL locally, else https://{domainName}/{stage}.

    A custom domain does not serve the management API, so then the API's own execute-api domain is used.
    """
    settings = get_settings()
    if settings.websocket_management_url:
        return settings.websocket_management_url.rstrip("/")
    domain = str(request_context.get("domainName", ""))
    stage = str(request_context.get("stage", ""))
    if not domain.endswith(".amazonaws.com"):
        domain = f"{request_context.get('apiId')}.execute-api.{settings.region}.amazonaws.com"
    return f"https://{domain}/{stage}"


# --- $connect, $default, $disconnect ------------------------------------------------------------------


def _shard(connection_id: str) -> str:
    return str(zlib.crc32(connection_id.encode()) % PING_SHARDS)


def connect(event: dict[str, Any]) -> dict[str, Any]:
    """$connect: 400 unless EIO=3 over websocket, 401 without a valid session or token."""
    from chalicelib.entities.auth import authenticate  # $connect only: keeps auth out of the other handlers

    query = event.get("queryStringParameters") or {}
    if query.get("EIO") != "3" or query.get("transport") != "websocket":
        return {"statusCode": 400}
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    try:
        caller = authenticate(headers, query)
    except Unauthorized:
        return {"statusCode": 401}
    context = event["requestContext"]
    connection_id = str(context["connectionId"])
    now = now_ms()
    connection = Connection(
        connection_id,
        sid=new_key(nbytes=15),
        user_id=caller.user_id,
        group_id=caller.group_id,
        endpoint=management_endpoint(context),
        connected_at=now,
        ping_shard=_shard(connection_id),
        last_ping_at=now,
    )
    try:
        repository.put_connection(connection, now + CONNECTION_MAX_SECONDS * 1000)
        invoke_async(OPEN_FUNCTION, {"connectionId": connection_id})
    except KeyportError:
        log.exception("websocket %s could not be set up", connection_id)
        repository.delete_connection(connection_id)
        return {"statusCode": 503}
    return {"statusCode": 200}


def open_packet(connection: Connection) -> str:
    """Engine.IO's open packet for a connection."""
    settings = get_settings()
    handshake = {
        "sid": connection.sid,
        "upgrades": [],
        "pingInterval": settings.engineio_ping_interval_ms,
        "pingTimeout": settings.engineio_ping_timeout_ms,
    }
    return "0" + json.dumps(handshake, separators=(",", ":"))


def open_connection(payload: dict[str, Any], sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """ws_open: send the open packet and ``40``, retrying while API Gateway finishes the handshake.

    Lambda retries a failed asynchronous invocation: the open packet is noted on the connection once
    sent, so a retry (after ``40`` failed, say) sends only what is still missing.
    """
    connection_id = str(payload.get("connectionId", ""))
    connection = repository.get_connection(connection_id) if connection_id else None
    if connection is None:
        return {"opened": False}
    if connection.opened_at is None:
        for delay in (*OPEN_RETRY_DELAYS, None):
            if send(connection.endpoint, connection_id, open_packet(connection)):
                break
            if delay is None or repository.get_connection(connection_id) is None:
                return {"opened": False}
            sleep(delay)  # until $connect has returned, the connection answers 410
        repository.mark_opened(connection_id, now_ms())
    send(connection.endpoint, connection_id, "40")
    return {"opened": True}


def message(event: dict[str, Any]) -> None:
    """$default: Engine.IO pings, probes and closes; Socket.IO namespace packets."""
    context = event["requestContext"]
    connection_id = str(context["connectionId"])
    endpoint = management_endpoint(context)
    body = event.get("body")
    if event.get("isBase64Encoded") or not isinstance(body, str) or not body:
        return
    kind, data = body[0], body[1:]
    if kind == "2":  # ping, answered with a pong carrying the same data ("2probe" -> "3probe")
        if not repository.record_ping(connection_id, now_ms()):
            close(endpoint, connection_id)  # swept already: tell the client
            return
        send(endpoint, connection_id, "3" + data)
    elif kind == "1" or body == "41":  # transport close, or leaving the default namespace
        close(endpoint, connection_id)
    elif body.startswith("40"):  # joining a namespace: only the default one exists
        namespace = data[1:].split(",", 1)[0]
        reply = "40" if namespace in ("", "/") else "44" + namespace + ',"Invalid namespace"'
        send(endpoint, connection_id, reply)


def disconnect(event: dict[str, Any]) -> None:
    """$disconnect: forget the connection."""
    repository.delete_connection(str(event["requestContext"]["connectionId"]))


# --- the sweep ---------------------------------------------------------------------------------------------


def sweep(remaining_ms: Callable[[], int], now: int | None = None) -> dict[str, int]:
    """Close connections silent for longer than pingInterval + pingTimeout; how many were closed."""
    settings = get_settings()
    now = now_ms() if now is None else now
    cutoff = now - (settings.engineio_ping_interval_ms + settings.engineio_ping_timeout_ms)
    closed = 0
    for shard in range(PING_SHARDS):
        while remaining_ms() > SWEEP_RESERVE_MS:
            batch = repository.silent_connections(str(shard), cutoff, SWEEP_BATCH)
            acted = 0
            for connection in batch:
                if repository.forget_if_silent(connection.id, cutoff):
                    acted += 1
                    try:
                        close(connection.endpoint, connection.id)
                    except Exception:
                        log.exception("closing silent websocket %s failed", connection.id)
            closed += acted
            if len(batch) < SWEEP_BATCH or not acted:
                break
    return {"closed": closed}
