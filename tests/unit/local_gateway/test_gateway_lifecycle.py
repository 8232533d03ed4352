"""Starting and stopping: the integration timeout, websockets closed on stop, the websocket API configured on start."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import requests
from chalice import Chalice
from chalice.app import WebsocketEvent

from infra.local.gateway import LocalGateway, run_in_thread
from tests.support.gateway_app import app, for_connection, rec, ws_url


def test_integration_timeout_and_stop_with_open_socket() -> None:
    gateway = LocalGateway(app, port=0, run_schedules=False, integration_timeout=0.01)
    handle = run_in_thread(gateway)
    r = requests.get(handle.url + "/slow", timeout=5)
    assert r.status_code == 504
    assert r.json() == {"message": "Endpoint request timed out"}

    async def scenario() -> tuple[str, aiohttp.WSMsgType]:
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(handle, "/")) as ws:
            cid = rec.get("connect")[-1]["requestContext"]["connectionId"]
            await asyncio.get_running_loop().run_in_executor(None, handle.stop)
            closing = await asyncio.wait_for(ws.receive(), 3)
            return cid, closing.type

    cid, closing = asyncio.run(scenario())
    assert closing in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    disconnects = for_connection("disconnect", cid)
    assert len(disconnects) == 1  # sent before stop() returned
    assert disconnects[0]["requestContext"]["disconnectStatusCode"] == 1001
    assert not handle.thread.is_alive()


def test_websocket_api_is_pointed_at_the_gateway_on_start(monkeypatch: pytest.MonkeyPatch) -> None:
    # Chalice's websocket wrapper calls websocket_api.configure_from_api_id() on every event, which
    # raises without AWS_REGION; start() points the API at the gateway so send() works out of the box.
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    fresh = Chalice(app_name="fresh", configure_logs=False)

    @fresh.on_ws_message()
    def shout(event: WebsocketEvent) -> None:
        fresh.websocket_api.send(event.connection_id, event.body.upper())

    handle = run_in_thread(LocalGateway(fresh, port=0, run_schedules=False))
    try:
        assert fresh.websocket_api._endpoint == handle.gateway.management_endpoint

        async def scenario() -> str:
            async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(handle, "/")) as ws:
                await ws.send_str("hey")
                return (await asyncio.wait_for(ws.receive(), 3)).data

        assert asyncio.run(scenario()) == "HEY"
    finally:
        handle.stop()
