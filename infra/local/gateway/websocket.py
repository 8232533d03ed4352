"""The WebSocket API (``$connect``, ``$default``, ``$disconnect`` events) and its management API (``@connections``).

The management API (``POST``/``GET``/``DELETE /{stage}/@connections/{id}``) answers on the gateway's own
loop and never waits for an invocation, so a handler can send to a connection while it runs.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from chalice.app import BaseLambdaHandler

from infra.local.gateway.core import (
    MAX_WEBSOCKET_MESSAGE,
    GatewayCore,
    Handler,
    iso,
    json_response,
    log,
    now_ms,
    random_id,
    request_time,
)
from infra.local.gateway.events import event_headers, event_query


@dataclass
class Connection:
    """One open websocket, as the management API knows it."""

    connection_id: str
    ws: web.WebSocketResponse
    connected_at: int
    source_ip: str
    user_agent: str
    domain_name: str
    last_active_at: int = 0
    closing: bool = False
    close_code: int | None = None
    close_reason: str = ""
    done: asyncio.Event = field(default_factory=asyncio.Event)


def _connection_id() -> str:
    """Looks like an AWS connection id: 15 base64-ish characters and a trailing ``=``."""
    return random_id(15) + "="


def _status_of(result: Any) -> int:
    if isinstance(result, dict):
        try:
            return int(result.get("statusCode", 200))
        except (TypeError, ValueError):
            return 500
    return 200


def _header_of(result: Any, name: str) -> str | None:
    if not isinstance(result, dict):
        return None
    for key, value in (result.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


class WebSocketApi(GatewayCore):
    """API Gateway WebSocket API with the app's websocket handlers behind its three routes."""

    def _is_websocket(self, request: web.BaseRequest) -> bool:
        return (
            request.method == "GET"
            and request.headers.get("Upgrade", "").lower() == "websocket"
            and bool(self.app.websocket_handlers)
        )

    def _ws_handler(self, route_key: str) -> Handler | None:
        """The deployed entry point for a websocket route: ``app.handler_map[name]``, exactly as Lambda gets it."""
        config = self.app.websocket_handlers.get(route_key)
        if config is None:
            return None
        handler = self.app.handler_map.get(config.name)
        if handler is None:
            return None
        if not isinstance(handler, BaseLambdaHandler) and route_key not in self._ws_warned:
            # Chalice 1.34 only wraps websocket handlers registered on the app: a Blueprint has no
            # websocket_api, so its handler is the bare function, called as f(event, context) on AWS.
            self._ws_warned.add(route_key)
            log.warning(
                "websocket handler %s (%s) is not wrapped by Chalice (Blueprint?); it will be called as "
                "handler(event_dict, context) here and on AWS",
                config.name,
                route_key,
            )
        return handler

    def _ws_name(self, route_key: str) -> str | None:
        config = self.app.websocket_handlers.get(route_key)
        return config.name if config is not None else None

    def _ws_request_context(self, conn: Connection, route_key: str, kind: str) -> dict[str, Any]:
        now = now_ms()
        return {
            "routeKey": route_key,
            "eventType": kind,
            "extendedRequestId": random_id(15) + "=",
            "requestTime": request_time(now),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": conn.connected_at,
            "requestTimeEpoch": now,
            "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
            "requestId": random_id(15) + "=",
            "domainName": conn.domain_name,
            "connectionId": conn.connection_id,
            "apiId": "local",
        }

    async def _handle_websocket(self, request: web.BaseRequest) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_WEBSOCKET_MESSAGE)
        if not ws.can_prepare(request).ok:
            return json_response(400, {"message": "Bad websocket upgrade request"})
        conn_id = _connection_id()
        while conn_id in self._connections:
            conn_id = _connection_id()
        connected_at = now_ms()
        conn = Connection(
            conn_id,
            ws,
            connected_at,
            request.remote or "127.0.0.1",
            request.headers.get("User-Agent", ""),
            request.headers.get("Host", f"{self.host}:{self.port}"),
            last_active_at=connected_at,
        )
        headers, multi_headers = event_headers(request, self.port)
        query, multi_query = event_query(request)
        event: dict[str, Any] = {
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "requestContext": self._ws_request_context(conn, "$connect", "CONNECT"),
            "isBase64Encoded": False,
        }
        if query:  # AWS leaves both keys out when the upgrade URL has no query string
            event["queryStringParameters"] = query
            event["multiValueQueryStringParameters"] = multi_query
        handler = self._ws_handler("$connect")
        protocol: str | None = None
        if handler is not None:
            try:
                name = self._ws_name("$connect") or ""
                result = json.loads(await self._call(name, event, self._context(name)))
            except Exception:
                log.exception("$connect handler raised")
                return json_response(500, {"message": "Internal server error"})
            status = _status_of(result)
            if not 200 <= status < 300:
                return web.Response(status=status, body=b"")
            protocol = _header_of(result, "Sec-WebSocket-Protocol")
        if protocol:
            conn.ws = ws = web.WebSocketResponse(max_msg_size=MAX_WEBSOCKET_MESSAGE, protocols=(protocol,))
        await ws.prepare(request)
        self._connections[conn_id] = conn
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._ws_message(conn, message.data, False)
                elif message.type == WSMsgType.BINARY:
                    await self._ws_message(conn, base64.b64encode(message.data).decode("ascii"), True)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            await self._ws_disconnect(conn)
        return ws

    async def _ws_message(self, conn: Connection, body: str, is_b64: bool) -> None:
        conn.last_active_at = now_ms()
        context = self._ws_request_context(conn, "$default", "MESSAGE")
        context["messageId"] = random_id(15) + "="
        event = {"requestContext": context, "body": body, "isBase64Encoded": is_b64}
        handler = self._ws_handler("$default")
        error: str | None = None
        if handler is None:
            error = "Forbidden"
        else:
            try:
                await self._call(self._ws_name("$default") or "", event, self._context(self._ws_name("$default")))
            except Exception:
                log.exception("$default handler raised")
                error = "Internal server error"
        if error and not conn.ws.closed and not conn.closing:
            payload = {"message": error, "connectionId": conn.connection_id, "requestId": context["requestId"]}
            await conn.ws.send_str(json.dumps(payload))

    async def _ws_disconnect(self, conn: Connection) -> None:
        """Send $disconnect once: the connection is already gone (410) while the handler runs, as on AWS."""
        if self._connections.pop(conn.connection_id, None) is None:
            return
        try:
            code = conn.close_code if conn.close_code is not None else conn.ws.close_code
            reason = conn.close_reason
            if code is None or code == 1005:
                code, reason = 1005, reason or "Client-side close frame status not set"
            code = int(code)
            handler = self._ws_handler("$disconnect")
            if handler is None:
                return
            context = self._ws_request_context(conn, "$disconnect", "DISCONNECT")
            context["disconnectStatusCode"] = code
            context["disconnectReason"] = reason
            event = {
                "headers": {"Host": conn.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""},
                "multiValueHeaders": {
                    "Host": [conn.domain_name],
                    "x-api-key": [""],
                    "X-Forwarded-For": [""],
                    "x-restapi": [""],
                },
                "requestContext": context,
                "isBase64Encoded": False,
            }
            try:
                name = self._ws_name("$disconnect") or ""
                await asyncio.shield(self._call(name, event, self._context(name)))
            except Exception:
                log.exception("$disconnect handler raised")
        finally:
            conn.done.set()

    def _close_connection(self, conn: Connection, code: int, reason: str) -> None:
        if conn.closing:
            return
        conn.closing = True
        conn.close_code = code
        conn.close_reason = reason
        self._spawn(conn.ws.close(code=code, message=reason.encode()))

    async def _close_all_connections(self) -> None:
        """Close every websocket with 1001 and wait (a little) for each one's $disconnect."""
        connections = list(self._connections.values())
        for conn in connections:
            self._close_connection(conn, 1001, "Going away")
        if connections:
            await asyncio.wait([asyncio.ensure_future(c.done.wait()) for c in connections], timeout=5)

    # ---- management API (no app lock) ---------------------------------------------------------------

    async def _handle_management(self, request: web.BaseRequest, conn_id: str) -> web.StreamResponse:
        conn = self._connections.get(conn_id)
        if request.method == "POST":
            data = await self._read_body(request)
            if data is None or len(data) > MAX_WEBSOCKET_MESSAGE:
                return json_response(413, {"message": "Payload too large"}, error_type="PayloadTooLargeException")
        if conn is None or conn.closing or conn.ws.closed:
            return json_response(410, {"message": "Gone"}, error_type="GoneException")
        if request.method == "POST":
            assert data is not None
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                await conn.ws.send_bytes(data)
            else:
                await conn.ws.send_str(text)
            return web.Response(status=200, body=b"", headers={"Content-Type": "application/json"})
        if request.method == "DELETE":
            self._close_connection(conn, 1000, "")
            return web.Response(status=204)
        if request.method == "GET":
            return json_response(
                200,
                {
                    "connectedAt": iso(conn.connected_at),
                    "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
                    "lastActiveAt": iso(conn.last_active_at),
                },
            )
        return json_response(403, {"message": "Missing Authentication Token"})
