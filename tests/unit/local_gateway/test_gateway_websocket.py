"""The WebSocket API ($connect, $default, $disconnect) and the management API (@connections)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import requests
from chalice.app import WebsocketDisconnectedError

from infra.local.gateway import GatewayThread
from tests.support.gateway_app import app, for_connection, rec, wait_until, ws_url


async def _connect_and_echo(gw: GatewayThread) -> tuple[str, list[Any]]:
    url = ws_url(gw, "/socket.io/?EIO=3&transport=websocket")
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_str("hi")
        text = await asyncio.wait_for(ws.receive(), 3)
        await ws.send_bytes(b"\x00\xffbin")
        binary = await asyncio.wait_for(ws.receive(), 3)
        await ws.send_str("info")
        info = await asyncio.wait_for(ws.receive(), 3)
        cid = next(m["requestContext"]["connectionId"] for m in rec.get("message") if m.get("body") == "hi")
        replies = [(text.type, text.data), (binary.type, binary.data), (info.type, json.loads(info.data))]
    return cid, replies


def test_websocket_connect_refused_by_connect_handler(gw: GatewayThread) -> None:
    async def attempt() -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(ws_url(gw, "/socket.io/?deny=1")):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    assert asyncio.run(attempt()) == 403
    refused = [e for e in rec.get("connect") if (e.get("queryStringParameters") or {}).get("deny")]
    assert refused
    assert not for_connection("disconnect", refused[-1]["requestContext"]["connectionId"])


def test_websocket_echo_through_management_api(gw: GatewayThread) -> None:
    cid, replies = asyncio.run(_connect_and_echo(gw))
    assert replies[0] == (aiohttp.WSMsgType.TEXT, "echo:hi")
    assert replies[1] == (aiohttp.WSMsgType.BINARY, b"\x00\xffbin")
    assert replies[2][0] == aiohttp.WSMsgType.TEXT
    assert replies[2][1]["sourceIp"] == "127.0.0.1"

    assert len(cid) == 16 and cid.endswith("=")
    connect = for_connection("connect", cid)[0]
    assert connect["requestContext"]["routeKey"] == "$connect"
    assert connect["requestContext"]["eventType"] == "CONNECT"
    assert connect["requestContext"]["messageDirection"] == "IN"
    assert connect["requestContext"]["stage"] == "api"
    assert connect["requestContext"]["domainName"] == urlsplit(gw.url).netloc
    assert connect["queryStringParameters"] == {"EIO": "3", "transport": "websocket"}
    assert connect["multiValueQueryStringParameters"] == {"EIO": ["3"], "transport": ["websocket"]}
    assert connect["headers"]["Upgrade"].lower() == "websocket"

    messages = for_connection("message", cid)
    assert [m["requestContext"]["routeKey"] for m in messages] == ["$default"] * 3
    assert messages[0]["requestContext"]["eventType"] == "MESSAGE"
    assert messages[0]["body"] == "hi" and messages[0]["isBase64Encoded"] is False
    assert messages[1]["isBase64Encoded"] is True
    assert base64.b64decode(messages[1]["body"]) == b"\x00\xffbin"

    # the client closed: exactly one $disconnect, after which the connection is gone
    disconnect = wait_until(lambda: for_connection("disconnect", cid))
    assert disconnect[0]["requestContext"]["eventType"] == "DISCONNECT"
    assert disconnect[0]["requestContext"]["routeKey"] == "$disconnect"
    time.sleep(0.05)
    assert len(for_connection("disconnect", cid)) == 1
    r = requests.post(f"{gw.url}/@connections/{cid}", data=b"late", timeout=5)
    assert r.status_code == 410
    assert r.json() == {"message": "Gone"}
    with pytest.raises(WebsocketDisconnectedError):
        app.websocket_api.send(cid, "late")


def test_server_side_close_and_connection_info(gw: GatewayThread) -> None:
    async def scenario() -> tuple[str, dict[str, Any], dict[str, Any], int, Any]:
        loop = asyncio.get_running_loop()

        def call(method: str, path: str, data: str | None = None) -> requests.Response:
            return requests.request(method, gw.url + path, data=data, timeout=5)

        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(gw, "/chat")) as ws:
            # $connect ran before the handshake completed, so ours is the latest connect event
            cid = rec.get("connect")[-1]["requestContext"]["connectionId"]
            bare = await loop.run_in_executor(None, call, "GET", f"/@connections/{cid}")
            staged = await loop.run_in_executor(None, call, "GET", f"/api/@connections/{cid}")
            posted = await loop.run_in_executor(None, call, "POST", f"/api/@connections/{cid}", "pushed")
            pushed = await asyncio.wait_for(ws.receive(), 3)
            await ws.send_str("close-me")  # the handler calls app.websocket_api.close -> DELETE
            closing = await asyncio.wait_for(ws.receive(), 3)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
            return cid, bare.json(), staged.json(), posted.status_code, pushed.data

    cid, bare, staged, posted, pushed = asyncio.run(scenario())
    assert set(bare) == {"connectedAt", "identity", "lastActiveAt"}
    assert bare["identity"]["sourceIp"] == "127.0.0.1"
    assert staged["connectedAt"] == bare["connectedAt"]
    assert posted == 200 and pushed == "pushed"
    disconnect = wait_until(lambda: for_connection("disconnect", cid))
    assert disconnect[0]["requestContext"]["disconnectStatusCode"] == 1000
    time.sleep(0.05)
    assert len(for_connection("disconnect", cid)) == 1
    for method in ("GET", "POST", "DELETE"):
        r = requests.request(method, f"{gw.url}/api/@connections/{cid}", timeout=5)
        assert r.status_code == 410, method
        assert r.headers["x-amzn-ErrorType"] == "GoneException"


def test_management_api_unknown_connection(gw: GatewayThread) -> None:
    r = requests.post(f"{gw.url}/@connections/AAAAAAAAAAAAAAA%3D", data=b"x", timeout=5)
    assert r.status_code == 410
    assert r.json() == {"message": "Gone"}


def test_message_handler_error_reaches_the_client(gw: GatewayThread) -> None:
    async def scenario() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(gw, "/")) as ws:
            await ws.send_str("boom")
            reply = await asyncio.wait_for(ws.receive(), 3)
            return json.loads(reply.data)

    error = asyncio.run(scenario())
    assert error["message"] == "Internal server error"
    assert error["connectionId"] and error["requestId"]
