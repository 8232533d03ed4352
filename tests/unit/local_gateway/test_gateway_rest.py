"""The REST API: proxy events, responses, API Gateway's limits and refusals, over real sockets."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from infra.local.gateway import MAX_HEADER_BYTES, MAX_REQUEST_BODY, MAX_URL_LENGTH, GatewayThread
from tests.support.gateway_app import rec, wait_until


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
