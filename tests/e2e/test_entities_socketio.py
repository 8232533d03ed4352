"""The socket.io websocket of the entity store over a real websocket, against `make run`'s stack.

socket.io-client 2.5.0 (Engine.IO 3, from npm: tests/e2e/realtime/package.json and its lock file), run
by node, signs in with the session cookie, receives the open packet, pings and gets pongs, and receives
the event of an entity it creates. A raw websocket that stops pinging is closed by the sweep, triggered
through the gateway's Lambda Invoke API as the schedule would run it.

Needs ``npm ci --prefix tests/e2e/realtime`` once; ``KEYPORT_SKIP_NODE=1`` skips the node client.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ROOT, RunningStack, start_stack, stop_stack

CLIENT_DIR = ROOT / "tests" / "e2e" / "realtime"
PING_INTERVAL_MS, PING_TIMEOUT_MS = 500, 2500
PASSWORD = "e2e-password-123"


@pytest.fixture(scope="module")
def realtime_stack() -> Iterator[RunningStack]:
    running = start_stack(
        {"ENGINEIO_PING_INTERVAL_MS": str(PING_INTERVAL_MS), "ENGINEIO_PING_TIMEOUT_MS": str(PING_TIMEOUT_MS)}
    )
    yield running
    stop_stack(running)


def _user(stack: RunningStack, login: str) -> str:
    """Create a user; the Cookie header value of a new session."""
    created = requests.post(
        f"{stack.url}/admin/platform/users",
        auth=stack.auth,
        json={"login": login, "password": PASSWORD, "group": "e2e"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    signed_in = requests.post(f"{stack.url}/api/v1/auth", json={"login": login, "password": PASSWORD}, timeout=10)
    assert signed_in.status_code == 200 and signed_in.json() == {"sucess": True, "success": True}
    assert "HttpOnly" in signed_in.headers["Set-Cookie"] and "Secure" not in signed_in.headers["Set-Cookie"]
    return f"sid={signed_in.cookies['sid']}"


def _node_client() -> Path:
    if os.environ.get("KEYPORT_SKIP_NODE") == "1":
        pytest.skip("KEYPORT_SKIP_NODE=1: the socket.io-client test is skipped")
    if shutil.which("node") is None:
        pytest.fail("node is not installed; it runs socket.io-client (or set KEYPORT_SKIP_NODE=1 to skip)")
    if not (CLIENT_DIR / "node_modules" / "socket.io-client").is_dir():
        pytest.fail(
            "socket.io-client is not installed: run `npm ci --prefix tests/e2e/realtime` "
            "(or set KEYPORT_SKIP_NODE=1 to skip this test)"
        )
    return CLIENT_DIR / "client.js"


def test_socket_io_client_gets_the_open_packet_pongs_and_entity_events(realtime_stack: RunningStack) -> None:
    client = _node_client()
    cookie = _user(realtime_stack, "node-user")
    run = subprocess.run(
        ["node", str(client), realtime_stack.url, cookie, "gauges"],
        cwd=CLIENT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert run.returncode == 0, f"node client failed:\n{run.stdout}\n{run.stderr}"
    seen: dict[str, list[Any]] = {}
    for line in lines:
        seen.setdefault(line["kind"], []).append(line["data"])

    (handshake,) = seen["open"]
    assert handshake["upgrades"] == [] and isinstance(handshake["sid"], str) and handshake["sid"]
    assert (handshake["pingInterval"], handshake["pingTimeout"]) == (PING_INTERVAL_MS, PING_TIMEOUT_MS)
    packets = [(p["type"], p.get("data")) for p in seen["packet"]]
    assert packets[0][0] == "open" and packets[1] == ("message", "0")  # "40": connected to the namespace
    assert len(seen["connect"]) == 1
    assert len(seen["pong"]) >= 2 and sum(1 for kind, _ in packets if kind == "pong") >= 2

    ((created,),) = [[c] for c in seen["created"]]
    assert created["status"] == 200
    (event,) = seen["event"]
    assert event == created["entity"] and event["name"] == "from node" and event["reading"] == 0.1


async def _sweep_scenario(stack: RunningStack, cookie: str) -> dict[str, Any]:
    import aiohttp

    url = stack.url.replace("http://", "ws://") + "/socket.io/?EIO=3&transport=websocket"
    async with aiohttp.ClientSession() as session:
        try:
            await session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=5))
        except aiohttp.WSServerHandshakeError as e:
            refused = e.status
        silent = await session.ws_connect(url, headers={"Cookie": cookie})
        alive = await session.ws_connect(url, headers={"Cookie": cookie})
        opened = [await silent.receive_str(timeout=10), await silent.receive_str(timeout=10)]
        await alive.receive_str(timeout=10)
        await alive.receive_str(timeout=10)

        # Keep one socket pinging while the other stays silent past pingInterval + pingTimeout.
        deadline = time.monotonic() + (PING_INTERVAL_MS + PING_TIMEOUT_MS) / 1000 + 1.0
        pongs = []
        while time.monotonic() < deadline:
            await alive.send_str("2")
            pongs.append(await alive.receive_str(timeout=10))
            await asyncio.sleep(0.3)

        event = {
            "version": "0",
            "id": "e2e",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2020-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {},
        }
        async with session.post(
            f"{stack.url}/2015-03-31/functions/ws_sweep/invocations", data=json.dumps(event)
        ) as response:
            swept = await response.json()

        closing = await silent.receive(timeout=10)
        await alive.send_str("2")
        still_alive = await alive.receive_str(timeout=10)
        await alive.close()
        return {
            "refused": refused,
            "opened": opened,
            "pongs": pongs,
            "swept": swept,
            "closing": (closing.type, closing.data),
            "still_alive": still_alive,
        }


def test_a_socket_that_stops_pinging_is_closed_by_the_sweep(realtime_stack: RunningStack) -> None:
    import aiohttp

    cookie = _user(realtime_stack, "silent-user")
    outcome = asyncio.run(_sweep_scenario(realtime_stack, cookie))
    assert outcome["refused"] == 401  # no cookie, no socket
    assert outcome["opened"][0].startswith('0{"sid":') and outcome["opened"][1] == "40"
    assert outcome["pongs"] and set(outcome["pongs"]) == {"3"}
    # The every-minute timer may have swept it first; either way, the silent socket is the one closed.
    assert outcome["swept"]["closed"] in (0, 1)
    assert outcome["closing"] == (aiohttp.WSMsgType.CLOSE, 1000)
    assert outcome["still_alive"] == "3"
