"""The socket.io websocket through the app's own websocket handlers, with API Gateway's events.

The management API and Lambda are recorders (``tests/support/entities_stack.py``); the end-to-end test
(``tests/e2e/test_entities_socketio.py``) runs the same over a real websocket with socket.io-client.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.entities_stack import Platform, RecordingLambda, RecordingManagement

_ids = iter(range(10**6))


def _event(route: str, connection_id: str, **extra: Any) -> dict[str, Any]:
    context = {
        "routeKey": route,
        "eventType": {"$connect": "CONNECT", "$default": "MESSAGE", "$disconnect": "DISCONNECT"}[route],
        "connectionId": connection_id,
        "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
        "stage": "api",
        "apiId": "abc123",
        "requestId": "r",
        "connectedAt": 0,
        "messageDirection": "IN",
        "identity": {"sourceIp": "127.0.0.1"},
    }
    return {"requestContext": context, "isBase64Encoded": False, **extra}


def connect(headers: dict[str, str] | None = None, query: dict[str, str] | None = None) -> tuple[str, dict]:
    from app import app

    connection_id = f"conn{next(_ids):012d}="
    params = {"EIO": "3", "transport": "websocket"} if query is None else query
    event = _event("$connect", connection_id, headers=headers or {}, queryStringParameters=params)
    return connection_id, app.handler_map["ws_connect"](event, None)


def say(connection_id: str, body: str) -> None:
    from app import app

    app.handler_map["ws_message"](_event("$default", connection_id, body=body), None)


def hang_up(connection_id: str) -> None:
    from app import app

    app.handler_map["ws_disconnect"](_event("$disconnect", connection_id), None)


@pytest.fixture
def ann(platform: Platform) -> dict[str, str]:
    platform.add_user("ann", "ops")
    return platform.sign_in("ann")


def test_a_signed_in_client_gets_the_open_packet_and_40(
    platform: Platform, ann: dict[str, str], lambdas: RecordingLambda, management: RecordingManagement
) -> None:
    from chalicelib.entities.models import Connection

    connection_id, answer = connect({"Cookie": ann["Cookie"], "Host": "x"})
    assert answer["statusCode"] == 200
    stored = Connection.get(connection_id)
    assert stored.endpoint == "https://abc123.execute-api.us-east-1.amazonaws.com/api"
    assert management.sent == {}  # $connect cannot send
    assert lambdas.names() == ["ws_open"]
    assert lambdas.run() == [{"opened": True}]
    opened, connected = management.sent[connection_id]
    assert opened[0] == "0" and connected == "40"
    handshake = json.loads(opened[1:])
    assert handshake == {"sid": stored.sid, "upgrades": [], "pingInterval": 25000, "pingTimeout": 60000}


@pytest.mark.parametrize("how", ["token query", "bearer header"])
def test_a_token_opens_a_socket_too(
    platform: Platform, ann: dict[str, str], lambdas: RecordingLambda, how: str
) -> None:
    token = platform.token("ann")["Authorization"].split(" ", 1)[1]
    if how == "token query":
        _, answer = connect(query={"EIO": "3", "transport": "websocket", "token": token})
    else:
        _, answer = connect({"Authorization": f"Bearer {token}"})
    assert answer["statusCode"] == 200


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        ({}, None, 401),
        ({"Cookie": "sid=forged"}, None, 401),
        (None, {"EIO": "4", "transport": "websocket"}, 400),
        (None, {"EIO": "3", "transport": "polling"}, 400),
        (None, {}, 400),
    ],
)
def test_connections_are_refused_without_a_session_or_engine_io_3(
    platform: Platform,
    ann: dict[str, str],
    lambdas: RecordingLambda,
    headers: dict | None,
    query: dict | None,
    status: int,
) -> None:
    from chalicelib.entities.models import Connection

    _, answer = connect(ann if headers is None else headers, query)
    assert answer["statusCode"] == status
    assert lambdas.calls == [] and Connection.count() == 0


def test_a_connection_is_refused_when_the_open_packet_cannot_be_queued(
    platform: Platform, ann: dict[str, str], lambdas: RecordingLambda
) -> None:
    from chalicelib.entities.models import Connection

    lambdas.fail = True
    _, answer = connect(ann)
    assert answer["statusCode"] == 503 and Connection.count() == 0


def test_pings_get_pongs_probes_get_probes_and_the_ping_is_recorded(
    platform: Platform, ann: dict[str, str], lambdas: RecordingLambda, management: RecordingManagement
) -> None:
    from chalicelib.entities.models import Connection

    connection_id, _ = connect(ann)
    lambdas.run()
    before = int(Connection.get(connection_id).last_ping_at)
    Connection(connection_id).update(actions=[Connection.last_ping_at.set(before - 30_000)])
    say(connection_id, "2")
    say(connection_id, "2probe")
    say(connection_id, "40")
    say(connection_id, '42["hello",1]')  # client events are not handled; nothing is sent back
    assert management.sent[connection_id][2:] == ["3", "3probe", "40"]
    assert int(Connection.get(connection_id).last_ping_at) >= before


def test_a_client_close_packet_closes_the_socket_and_disconnect_forgets_it(
    platform: Platform, ann: dict[str, str], lambdas: RecordingLambda, management: RecordingManagement
) -> None:
    from chalicelib.entities.models import Connection

    connection_id, _ = connect(ann)
    say(connection_id, "41")
    assert management.deleted == [connection_id]
    hang_up(connection_id)
    assert Connection.count() == 0


def test_the_open_packet_waits_until_api_gateway_has_finished_the_handshake(
    platform: Platform, ann: dict[str, str], lambdas: RecordingLambda, management: RecordingManagement
) -> None:
    from chalicelib.entities import realtime

    connection_id, _ = connect(ann)
    management.gone.add(connection_id)  # 410 until $connect has returned
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            management.gone.discard(connection_id)

    assert realtime.open_connection({"connectionId": connection_id}, sleep=sleep) == {"opened": True}
    assert len(waits) == 3 and management.sent[connection_id][1] == "40"
    hang_up(connection_id)  # closed before the open packet went out: nothing more is tried
    assert realtime.open_connection({"connectionId": connection_id}, sleep=sleep) == {"opened": False}


def _event_frames(management: RecordingManagement, connection_id: str) -> list[list[Any]]:
    return [json.loads(frame[2:]) for frame in management.sent.get(connection_id, []) if frame.startswith("42")]


def test_entity_events_reach_every_reader_and_nobody_else(
    platform: Platform, lambdas: RecordingLambda, management: RecordingManagement
) -> None:
    roles = {"owner": "ops", "teammate": "ops", "named": "x", "partner": "partners", "auditor": "audit", "eve": "y"}
    users = {role: platform.add_user(role, group) for role, group in roles.items()}
    sessions = {role: platform.sign_in(role) for role in roles}
    sockets = {role: connect(sessions[role])[0] for role in roles}
    second_tab, _ = connect(sessions["owner"])
    lambdas.run()
    body = {
        "name": "pump",
        "access": [users["named"]["_id"], users["partner"]["group"]["_id"]],
        "branch": [users["auditor"]["group"]["_id"]],
    }
    entity = platform.call("POST", "/api/v1/objects", body, sessions["owner"]).body
    platform.call("PATCH", f"/api/v1/objects/{entity['_id']}", {"name": "valve"}, sessions["named"])
    platform.call("DELETE", f"/api/v1/objects/{entity['_id']}", headers=sessions["teammate"])
    results = lambdas.run()
    assert results == [{"sent": 6, "gone": 0}] * 3
    for role in ("owner", "teammate", "named", "partner", "auditor"):
        frames = _event_frames(management, sockets[role])
        assert [name for name, _ in frames] == ["objects:created", "objects:updated", "objects:deleted"], role
        assert frames[0][1] == entity and frames[1][1]["name"] == "valve" and frames[2][1]["_id"] == entity["_id"]
    assert len(_event_frames(management, second_tab)) == 3
    assert _event_frames(management, sockets["eve"]) == []


def test_gone_connections_are_forgotten_when_a_push_finds_them(
    platform: Platform, ann: dict[str, str], lambdas: RecordingLambda, management: RecordingManagement
) -> None:
    from chalicelib.entities.models import Connection

    live, _ = connect(ann)
    dead, _ = connect(ann)
    lambdas.run()
    management.gone.add(dead)
    platform.call("POST", "/api/v1/objects", {"n": 1}, ann)
    assert lambdas.run() == [{"sent": 1, "gone": 1}]
    assert [c.id for c in Connection.scan()] == [live]


def test_events_too_large_for_one_frame_carry_the_system_fields(
    platform: Platform, ann: dict[str, str], lambdas: RecordingLambda, management: RecordingManagement
) -> None:
    socket, _ = connect(ann)
    lambdas.run()
    entity = platform.call("POST", "/api/v1/objects", {"blob": "x" * 200_000}, ann).body
    lambdas.run()
    ((name, data),) = _event_frames(management, socket)
    assert name == "objects:created"
    assert data == {**{k: entity[k] for k in ("_id", "owner", "group", "access", "branch", "time")}, "_truncated": True}


def test_the_sweep_closes_connections_silent_past_the_ping_timeout(
    platform: Platform,
    ann: dict[str, str],
    lambdas: RecordingLambda,
    management: RecordingManagement,
    settings_env: Callable[..., None],
) -> None:
    from chalicelib.entities import realtime
    from chalicelib.entities.models import Connection

    settings_env(ENGINEIO_PING_INTERVAL_MS="1000", ENGINEIO_PING_TIMEOUT_MS="2000")
    sockets = [connect(ann)[0] for _ in range(6)]
    lambdas.run()
    now = int(Connection.get(sockets[0]).connected_at)
    for index, connection_id in enumerate(sockets):
        Connection(connection_id).update(actions=[Connection.last_ping_at.set(now - index * 1000)])
    # Silent for longer than pingInterval + pingTimeout (3 s): the sockets last heard 4 and 5 s ago.
    assert realtime.sweep(lambda: 60_000, now=now) == {"closed": 2}
    assert sorted(management.deleted) == sorted(sockets[4:])
    assert sorted(c.id for c in Connection.scan()) == sorted(sockets[:4])
    # A swept socket that still pings is told it is closed.
    say(sockets[5], "2")
    assert management.sent[sockets[5]][-1] == "40"
    # Nothing more to close; a sweep out of time stops at once.
    assert realtime.sweep(lambda: 60_000, now=now) == {"closed": 0}
    assert realtime.sweep(lambda: 1_000, now=now + 60_000) == {"closed": 0}


def test_removing_a_user_closes_their_sockets(
    platform: Platform, ann: dict[str, str], lambdas: RecordingLambda, management: RecordingManagement
) -> None:
    socket, _ = connect(ann)
    assert platform.admin("DELETE", "/admin/platform/users/ann").status == 200
    assert management.deleted == [socket]


def test_the_management_endpoint_follows_the_event_or_the_local_setting(
    aws_env: None, settings_env: Callable[..., None]
) -> None:
    from chalicelib.entities.realtime import management_endpoint

    context = {"domainName": "abc.execute-api.eu-west-1.amazonaws.com", "stage": "prod", "apiId": "abc"}
    assert management_endpoint(context) == "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
    custom = {**context, "domainName": "ws.example.com"}
    assert management_endpoint(custom) == "https://abc.execute-api.us-east-1.amazonaws.com/prod"
    settings_env(WEBSOCKET_MANAGEMENT_URL="http://127.0.0.1:8000/")
    assert management_endpoint(context) == "http://127.0.0.1:8000"
