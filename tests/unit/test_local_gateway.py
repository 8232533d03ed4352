"""The local API Gateway emulator (infra/local/gateway/) against a small Chalice app, over real sockets."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import boto3
import pytest
import requests
from botocore.config import Config
from chalice import Chalice, Rate, Response
from chalice.app import Cron, WebsocketDisconnectedError, WebsocketEvent, _matches_content_type

from infra.local.gateway import (
    MAX_HEADER_BYTES,
    MAX_REQUEST_BODY,
    MAX_URL_LENGTH,
    GatewayThread,
    LocalGateway,
    content_type_matches,
    match_route,
    parse_rate,
    run_in_thread,
)

# --------------------------------------------------------------------------------------------------
# The app under test
# --------------------------------------------------------------------------------------------------

app = Chalice(app_name="gwtest", configure_logs=False)
app.api.binary_types = [*app.api.binary_types, "application/x-custom-bin"]
_TEXT_TYPES = ["application/json", "text/plain", "application/octet-stream", "application/x-custom-bin"]


class Recorder:
    """What the handlers saw, shared between the gateway's worker threads and the tests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: dict[str, list[Any]] = {}
        self.active = 0
        self.max_active = 0

    def add(self, kind: str, item: Any) -> None:
        with self.lock:
            self.events.setdefault(kind, []).append(item)

    def get(self, kind: str) -> list[Any]:
        with self.lock:
            return list(self.events.get(kind, []))


rec = Recorder()


@app.route("/")
def index() -> dict[str, str]:
    return {"hello": "world"}


@app.route("/items/{id}")
def item(id: str) -> dict[str, str]:
    return {"route": "variable", "id": id}


@app.route("/items/special")
def special() -> dict[str, str]:
    return {"route": "static"}


@app.route("/jobs/{proxy+}", methods=["DELETE"])
def jobs_fallback() -> dict[str, str]:
    assert app.current_request is not None
    return {"route": "greedy", "proxy": (app.current_request.uri_params or {})["proxy"]}


@app.route("/jobs/reboot", methods=["GET"])
def jobs_reboot() -> dict[str, str]:
    return {"route": "static"}


@app.route("/proxy/{name}/{proxy+}", methods=["GET", "POST"])
def proxy(name: str) -> dict[str, Any]:
    # Chalice's view-arg regex ({\w+}) skips "{proxy+}", so the greedy value only reaches the view
    # through uri_params.
    request = app.current_request
    assert request is not None
    return {"name": name, "uri_params": request.uri_params, "resource": request.to_original_event()["resource"]}


@app.route("/event", methods=["GET", "POST", "PUT"], content_types=_TEXT_TYPES)
def event_view() -> dict[str, Any]:
    request = app.current_request
    assert request is not None
    return request.to_original_event()


@app.route("/echo", methods=["POST"], content_types=_TEXT_TYPES)
def echo() -> Response:
    request = app.current_request
    assert request is not None
    content_type = request.headers.get("content-type", "application/octet-stream")
    return Response(body=request.raw_body, headers={"Content-Type": content_type}, status_code=201)


@app.route("/cookies")
def cookies() -> Response:
    return Response(body="ok", headers={"Set-Cookie": ["a=1; Path=/", "b=2; Path=/"], "Content-Type": "text/plain"})


@app.route("/cors", methods=["GET", "PUT"], cors=True)
def cors_view() -> dict[str, bool]:
    return {"cors": True}


@app.route("/context")
def context_view() -> dict[str, Any]:
    ctx = app.lambda_context
    return {
        "aws_request_id": ctx.aws_request_id,
        "function_name": ctx.function_name,
        "memory_limit_in_mb": ctx.memory_limit_in_mb,
        "invoked_function_arn": ctx.invoked_function_arn,
        "log_group_name": ctx.log_group_name,
        "log_stream_name": ctx.log_stream_name,
        "remaining": ctx.get_remaining_time_in_millis(),
    }


@app.route("/slow")
def slow() -> dict[str, int]:
    with rec.lock:
        rec.active += 1
        rec.max_active = max(rec.max_active, rec.active)
    time.sleep(0.05)
    with rec.lock:
        rec.active -= 1
    return {"ok": 1}


@app.on_ws_connect()
def ws_connect(event: WebsocketEvent) -> dict[str, int] | None:
    raw = event.to_dict()
    rec.add("connect", raw)
    if (raw.get("queryStringParameters") or {}).get("deny"):
        return {"statusCode": 403}
    return None


@app.on_ws_message()
def ws_message(event: WebsocketEvent) -> None:
    raw = event.to_dict()
    rec.add("message", raw)
    cid = event.connection_id
    if raw.get("isBase64Encoded"):
        app.websocket_api.send(cid, base64.b64decode(event.body))  # type: ignore[arg-type]
    elif event.body == "close-me":
        app.websocket_api.close(cid)
    elif event.body == "info":
        info = app.websocket_api.info(cid)
        app.websocket_api.send(
            cid, json.dumps({"sourceIp": info["Identity"]["SourceIp"], "connectedAt": info["ConnectedAt"].isoformat()})
        )
    elif event.body == "boom":
        raise RuntimeError("boom")
    else:
        app.websocket_api.send(cid, "echo:" + event.body)


@app.on_ws_disconnect()
def ws_disconnect(event: WebsocketEvent) -> None:
    rec.add("disconnect", event.to_dict())


@app.lambda_function(name="worker")
def worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    rec.add("worker", {"event": event, "function_name": context.function_name})
    return {"ok": True, "echo": event}


@app.lambda_function(name="explode")
def explode(event: dict[str, Any], context: Any) -> None:
    raise ValueError("kaboom")


@app.schedule(Rate(1, unit=Rate.MINUTES), name="tick")
def tick(event: Any) -> dict[str, str]:
    rec.add("tick", event.to_dict())
    return {"ticked": event.detail_type}


@app.schedule(Cron(0, 12, "*", "*", "?", "*"), name="noon")
def noon(event: Any) -> None:
    rec.add("noon", event.to_dict())


# --------------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------------

_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayThread]:
    gateway = LocalGateway(app, port=0, run_schedules=False)
    handle = run_in_thread(gateway)
    gateway.configure_websocket_api(boto3.session.Session(**_CREDENTIALS))
    yield handle
    handle.stop()


def wait_until(predicate: Callable[[], Any], timeout: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def ws_url(gw: GatewayThread, path: str) -> str:
    return gw.url.replace("http://", "ws://") + path


def for_connection(kind: str, cid: str) -> list[Any]:
    return [e for e in rec.get(kind) if e["requestContext"]["connectionId"] == cid]


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


# --------------------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------------------


def test_match_route_precedence_and_decoding() -> None:
    routes: dict[str, dict[str, Any]] = {
        "/": {"GET": 1},
        "/items/{id}": {"GET": 1},
        "/items/special": {"GET": 1},
        "/items/{id}/tags": {"GET": 1},
        "/items/{proxy+}": {"GET": 1},
        "/a/b/c": {"GET": 1},
        "/a/{x}/d": {"GET": 1},
        "/ghost": {},  # what a defaultdict lookup leaves behind: not a resource
    }
    assert match_route(routes, "/") == ("/", {})
    assert match_route(routes, "/items/special") == ("/items/special", {})
    assert match_route(routes, "/items/special/") == ("/items/special", {})
    assert match_route(routes, "/items/7") == ("/items/{id}", {"id": "7"})
    assert match_route(routes, "/items/a%2Fb") == ("/items/{id}", {"id": "a/b"})
    assert match_route(routes, "/items/7/tags") == ("/items/{id}/tags", {"id": "7"})
    assert match_route(routes, "/items/7/x/y%20z") == ("/items/{proxy+}", {"proxy": "7/x/y z"})
    assert match_route(routes, "/a/b/d") == ("/a/{x}/d", {"x": "b"})  # backtracks off the static branch
    assert match_route(routes, "/items") is None
    assert match_route(routes, "/ghost") is None
    assert match_route(routes, "/nope") is None


def test_match_route_is_on_the_resource_and_method_pair() -> None:
    routes: dict[str, dict[str, Any]] = {
        "/{proxy+}": {"GET": 1, "POST": 1},
        "/users/me": {"PATCH": 1},
        "/users/{user_id}": {"GET": 1},
        "/users/{user_id}/keys": {"ANY": 1},
    }
    assert match_route(routes, "/users/me", "PATCH") == ("/users/me", {})
    assert match_route(routes, "/users/me", "GET") == ("/users/{user_id}", {"user_id": "me"})  # the sibling
    assert match_route(routes, "/users/me", "POST") == ("/{proxy+}", {"proxy": "users/me"})  # the root proxy
    assert match_route(routes, "/users/me", "DELETE") is None  # nothing has DELETE: 403
    assert match_route(routes, "/users", "GET") == ("/{proxy+}", {"proxy": "users"})  # a method-less resource
    assert match_route(routes, "/users/7/keys", "DELETE") == ("/users/{user_id}/keys", {"user_id": "7"})


def test_content_type_rule_matches_chalice() -> None:
    samples = [
        "application/octet-stream",
        "APPLICATION/OCTET-STREAM; charset=binary",
        "text/plain",
        "",
        "*/*",
        "image/png, text/html",
        "application/json",
    ]
    for types in (app.api.binary_types, ["application/json"], ["*/*"]):
        for sample in samples:
            assert content_type_matches(sample, types) == _matches_content_type(sample, types), (sample, types)


def test_parse_rate() -> None:
    assert parse_rate("rate(1 minute)") == 60
    assert parse_rate("rate(5 minutes)") == 300
    assert parse_rate(Rate(2, unit=Rate.HOURS)) == 7200
    assert parse_rate("rate(1 day)") == 86400
    assert parse_rate("cron(0 12 * * ? *)") is None
    assert parse_rate(Cron(0, 12, "*", "*", "?", "*")) is None


# --------------------------------------------------------------------------------------------------
# REST API
# --------------------------------------------------------------------------------------------------


def test_root_and_default_content_type(gw: GatewayThread) -> None:
    r = requests.get(gw.url + "/", timeout=5)
    assert r.status_code == 200
    assert r.json() == {"hello": "world"}
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["x-amzn-RequestId"]


def test_static_segment_beats_variable(gw: GatewayThread) -> None:
    assert requests.get(gw.url + "/items/special", timeout=5).json() == {"route": "static"}
    assert requests.get(gw.url + "/items/42", timeout=5).json() == {"route": "variable", "id": "42"}
    assert requests.get(gw.url + "/items/special/", timeout=5).json() == {"route": "static"}


def test_greedy_route_gets_the_tail(gw: GatewayThread) -> None:
    r = requests.get(gw.url + "/proxy/github/repos/a%20b/issues/", timeout=5)
    assert r.status_code == 200
    assert r.json() == {
        "name": "github",
        "uri_params": {"name": "github", "proxy": "repos/a b/issues"},
        "resource": "/proxy/{name}/{proxy+}",
    }
    # a greedy variable needs at least one segment
    assert requests.get(gw.url + "/proxy/github", timeout=5).status_code == 403


def test_no_route_is_missing_authentication_token(gw: GatewayThread) -> None:
    r = requests.get(gw.url + "/does/not/exist", timeout=5)
    assert r.status_code == 403
    assert r.json() == {"message": "Missing Authentication Token"}


def test_a_resource_without_the_method_falls_through_or_is_missing_authentication_token(gw: GatewayThread) -> None:
    # API Gateway routes on the resource and method pair: Chalice's 405 is never reached.
    r = requests.delete(gw.url + "/items/special", timeout=5)
    assert r.status_code == 403
    assert r.json() == {"message": "Missing Authentication Token"}
    assert requests.delete(gw.url + "/jobs/reboot", timeout=5).json() == {"route": "greedy", "proxy": "reboot"}
    assert requests.get(gw.url + "/jobs/reboot", timeout=5).json() == {"route": "static"}
    assert requests.get(gw.url + "/jobs", timeout=5).status_code == 403  # method-less, and no other candidate


def test_event_shape(gw: GatewayThread) -> None:
    host = urlsplit(gw.url).netloc
    conn = http.client.HTTPConnection(host, timeout=5)
    conn.putrequest("GET", "/event/?a=1&a=2&b=x%20y&empty=", skip_accept_encoding=True)
    conn.putheader("X-Multi", "one")
    conn.putheader("X-Multi", "two")
    conn.putheader("User-Agent", "gw-test/1")
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 200
    event = json.loads(response.read())
    conn.close()

    assert event["resource"] == "/event"
    assert event["path"] == "/event/"
    assert event["httpMethod"] == "GET"
    assert event["queryStringParameters"] == {"a": "2", "b": "x y", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x y"], "empty": [""]}
    assert event["headers"]["X-Multi"] == "two"
    assert event["multiValueHeaders"]["X-Multi"] == ["one", "two"]
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["pathParameters"] is None
    assert event["stageVariables"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["resourcePath"] == "/event"
    assert ctx["path"] == "/api/event/"
    assert ctx["stage"] == "api"
    assert ctx["httpMethod"] == "GET"
    assert ctx["domainName"] == host
    assert ctx["apiId"] == "local"
    assert ctx["protocol"] == "HTTP/1.1"
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["identity"]["userAgent"] == "gw-test/1"
    assert ctx["requestId"] and ctx["extendedRequestId"] and ctx["accountId"]
    assert abs(ctx["requestTimeEpoch"] - time.time() * 1000) < 10_000

    bare = requests.get(gw.url + "/event", timeout=5).json()
    assert bare["queryStringParameters"] is None
    assert bare["multiValueQueryStringParameters"] is None


def test_text_body_and_headers(gw: GatewayThread) -> None:
    event = requests.post(gw.url + "/event", json={"k": "vé"}, timeout=5).json()
    assert json.loads(event["body"]) == {"k": "vé"}
    assert event["isBase64Encoded"] is False
    assert event["headers"]["Content-Type"] == "application/json"


def test_binary_bodies(gw: GatewayThread) -> None:
    payload = bytes(range(256)) * 4
    event = requests.post(
        gw.url + "/event", data=payload, headers={"Content-Type": "application/octet-stream"}, timeout=5
    ).json()
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload
    # a text type whose bytes are not UTF-8 still arrives intact, base64-encoded
    event = requests.post(gw.url + "/event", data=b"\xff\xfe", headers={"Content-Type": "text/plain"}, timeout=5).json()
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"
    # round trip: binary request in, binary response out
    r = requests.post(
        gw.url + "/echo",
        data=payload,
        headers={"Content-Type": "application/x-custom-bin", "Accept": "application/x-custom-bin"},
        timeout=5,
    )
    assert r.status_code == 201
    assert r.headers["Content-Type"] == "application/x-custom-bin"
    assert r.content == payload


def test_repeated_set_cookie_headers(gw: GatewayThread) -> None:
    r = requests.get(gw.url + "/cookies", timeout=5)
    assert r.status_code == 200
    assert r.raw.headers.getlist("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert r.raw.headers.getlist("Content-Type") == ["text/plain"]
    assert r.text == "ok"


def test_cors_preflight_is_answered_without_the_app(gw: GatewayThread) -> None:
    r = requests.options(gw.url + "/cors", timeout=5)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Methods"] == "GET,PUT,OPTIONS"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert requests.options(gw.url + "/items/special", timeout=5).status_code == 403  # no CORS, no OPTIONS method


def test_request_too_long(gw: GatewayThread) -> None:
    r = requests.post(
        gw.url + "/event", data=b"x" * (MAX_REQUEST_BODY + 1), headers={"Content-Type": "text/plain"}, timeout=10
    )
    assert r.status_code == 413
    assert r.json() == {"message": "Request Too Long"}


def _raw(gw: GatewayThread, data: bytes) -> tuple[int, str, bytes]:
    """Send ``data`` as it is (no client would send most of it) and read one response."""
    host, port = urlsplit(gw.url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.getheader("Content-Type", ""), response.read()


def _get(target: bytes, headers: bytes = b"") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: local\r\n" + headers + b"\r\n"


def test_control_characters_and_odd_escapes_in_the_path_reach_the_app(gw: GatewayThread) -> None:
    for escaped, decoded in [("%0A", "\n"), ("%0D", "\r"), ("%00", "\x00"), ("%zz", "%zz"), ("%E9", "\ufffd")]:
        status, content_type, body = _raw(gw, _get(f"/items/{escaped}".encode()))
        assert (status, content_type) == (200, "application/json"), escaped
        assert json.loads(body) == {"route": "variable", "id": decoded}, escaped
    status, _, body = _raw(gw, _get(b"/does/not/%0A"))
    assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"})


def test_url_over_api_gateways_limit_is_414_in_json(gw: GatewayThread) -> None:
    longest = b"/items/" + b"a" * (MAX_URL_LENGTH - len("/items/"))
    status, _, body = _raw(gw, _get(longest))
    assert status == 200
    assert json.loads(body)["route"] == "variable"
    for target in (longest + b"a", b"/items/x?q=" + b"a" * MAX_URL_LENGTH, b"/" + b"a" * 100_000):
        status, content_type, body = _raw(gw, _get(target))
        assert (status, content_type) == (414, "application/json")
        assert json.loads(body) == {"message": "Request-URI Too Long"}


def test_headers_over_api_gateways_limit_are_431_in_json(gw: GatewayThread) -> None:
    assert _raw(gw, _get(b"/", b"X-Big: " + b"a" * (MAX_HEADER_BYTES - 100) + b"\r\n"))[0] == 200
    too_large = [
        b"X-Big: " + b"a" * MAX_HEADER_BYTES + b"\r\n",
        b"X-Big: " + b"a" * 100_000 + b"\r\n",
        b"".join(b"X-H%d: a\r\n" % i for i in range(5000)),
    ]
    for headers in too_large:
        status, content_type, body = _raw(gw, _get(b"/", headers))
        assert (status, content_type) == (431, "application/json")
        assert json.loads(body) == {"message": "Request Header Fields Too Large"}


def test_malformed_requests_are_400_in_json_and_nothing_of_them_is_logged(
    gw: GatewayThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    malformed = [
        b"GARBAGE\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: local\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: local\r\n\r\n",
        b"GET /a\x01b?token=s3cr3t-query HTTP/1.1\r\nHost: local\r\n\r\n",
        _get(b"/", b"Authorization s3cr3t-header\r\n"),
        b"POST /echo HTTP/1.1\r\nHost: local\r\nContent-Length: s3cr3t\r\n\r\n",
    ]
    for data in malformed:
        status, content_type, body = _raw(gw, data)
        assert (status, content_type) == (400, "application/json"), data
        assert json.loads(body) == {"message": "Bad Request"}
    assert _raw(gw, _get(b"/", b"Authorization: Bearer s3cr3t-long" + b"a" * 100_000 + b"\r\n"))[0] == 431
    assert "s3cr3t" not in caplog.text
    assert requests.get(gw.url + "/", timeout=5).json() == {"hello": "world"}  # still serving


def test_lambda_context(gw: GatewayThread) -> None:
    ctx = requests.get(gw.url + "/context", timeout=5).json()
    assert ctx["function_name"] == "gwtest-dev"
    assert ctx["invoked_function_arn"].endswith(":function:gwtest-dev")
    assert ctx["memory_limit_in_mb"] == "128"
    assert ctx["log_group_name"] == "/aws/lambda/gwtest-dev"
    assert ctx["aws_request_id"] and ctx["log_stream_name"]
    assert 50_000 < ctx["remaining"] <= 60_000


def test_app_calls_are_serialised(gw: GatewayThread) -> None:
    rec.max_active = 0
    threads = [threading.Thread(target=requests.get, args=(gw.url + "/slow",), kwargs={"timeout": 5}) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert rec.max_active == 1


def test_one_log_line_per_request_without_secrets(gw: GatewayThread, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="infra.local.gateway"):
        requests.post(
            gw.url + "/event?x=1",
            data="top-secret-body",
            headers={
                "Authorization": "Bearer sekrit-token",
                "Cookie": "session=sekrit-cookie",
                "Content-Type": "text/plain",
            },
            timeout=5,
        )
        lines = wait_until(lambda: [r.getMessage() for r in caplog.records if r.name == "infra.local.gateway"])
    assert len(lines) == 1
    assert lines[0].startswith("POST /event 200 ") and lines[0].endswith("ms")
    assert "sekrit" not in caplog.text and "top-secret-body" not in caplog.text


# --------------------------------------------------------------------------------------------------
# WebSocket API and the management API
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Lambda Invoke and schedules
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lambda_client(gw: GatewayThread) -> Any:
    return boto3.client("lambda", endpoint_url=gw.url, config=Config(retries={"max_attempts": 1}), **_CREDENTIALS)


def test_invoke_event_runs_later(gw: GatewayThread, lambda_client: Any) -> None:
    response = lambda_client.invoke(FunctionName="worker", InvocationType="Event", Payload=b'{"job": "later"}')
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    seen = wait_until(lambda: [w for w in rec.get("worker") if w["event"] == {"job": "later"}])
    assert seen[0]["function_name"] == "gwtest-dev-worker"


def test_invoke_request_response_and_names(gw: GatewayThread, lambda_client: Any) -> None:
    for name in ("worker", "gwtest-dev-worker", "arn:aws:lambda:us-east-1:123456789012:function:gwtest-dev-worker"):
        response = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"n": name}).encode())
        assert response["StatusCode"] == 200
        assert "FunctionError" not in response
        assert json.loads(response["Payload"].read()) == {"ok": True, "echo": {"n": name}}


def test_invoke_errors(gw: GatewayThread, lambda_client: Any) -> None:
    response = lambda_client.invoke(FunctionName="explode", Payload=b"{}")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "kaboom"
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="nope", Payload=b"{}")


def test_run_schedule(gw: GatewayThread) -> None:
    before = len(rec.get("tick"))
    assert gw.gateway.run_schedule("tick") == {"ticked": "Scheduled Event"}
    ticks = rec.get("tick")
    assert len(ticks) == before + 1
    assert ticks[-1]["source"] == "aws.events" and ticks[-1]["detail"] == {}
    with pytest.raises(KeyError):
        gw.gateway.run_schedule("worker")


def test_schedule_timers_start_for_rate_only(caplog: pytest.LogCaptureFixture) -> None:
    gateway = LocalGateway(app, port=0)
    with caplog.at_level(logging.WARNING, logger="infra.local.gateway"):
        handle = run_in_thread(gateway)
        try:
            assert len(gateway._schedule_tasks) == 1  # "tick" only; "noon" is a cron
            assert requests.get(handle.url + "/", timeout=5).status_code == 200
        finally:
            handle.stop()
    assert any("noon" in r.getMessage() and "cron(" in r.getMessage() for r in caplog.records)
    assert gateway._schedule_tasks == []


def test_message_handler_error_reaches_the_client(gw: GatewayThread) -> None:
    async def scenario() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url(gw, "/")) as ws:
            await ws.send_str("boom")
            reply = await asyncio.wait_for(ws.receive(), 3)
            return json.loads(reply.data)

    error = asyncio.run(scenario())
    assert error["message"] == "Internal server error"
    assert error["connectionId"] and error["requestId"]


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
