"""Every request answers inside API Gateway's 29 s: a stalled AWS answers the service's documented 503.

The AWS endpoint here is a real TCP server that accepts connections and never answers (as a stalled
emulator or an AWS outage looks to botocore). Nothing in Keyport is patched: the endpoint setting
points every client, ours and PynamoDB's, at it.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import TEST_SECRET_KEY


class StalledPeer:
    """A TCP server that accepts every connection, reads what it is sent, and never answers."""

    def __init__(self) -> None:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(128)
        self._server.settimeout(0.2)
        self._held: list[socket.socket] = []
        self._running = True
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def _serve(self) -> None:
        while self._running:
            try:
                conn, _ = self._server.accept()
            except OSError:
                continue
            self.accepted += 1
            self._held.append(conn)

    def stop(self) -> None:
        self._running = False
        self._thread.join()
        for conn in self._held:
            conn.close()
        self._server.close()


@pytest.fixture
def stalled(monkeypatch: pytest.MonkeyPatch) -> Iterator[StalledPeer]:
    """Every AWS endpoint stalled; the deadline and AWS timeouts set by ``monkeypatch`` in each test."""
    from chalicelib import aws, crypto
    from chalicelib.settings import clear_settings

    peer = StalledPeer()
    monkeypatch.setenv("AWS_ENDPOINT_URL", peer.url)
    clear_settings()
    aws.reset()
    crypto.keyring.clear()
    try:
        yield peer
    finally:
        monkeypatch.undo()
        clear_settings()
        aws.reset()
        crypto.keyring.clear()
        peer.stop()


def configure(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    from chalicelib import aws
    from chalicelib.settings import clear_settings, get_settings

    for name, value in values.items():
        monkeypatch.setenv(name, value)
    clear_settings()
    get_settings()  # read now: the test client patches in the dev stage's variables while it runs
    aws.reset()


def call(method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any, float]:
    from chalice.test import Client

    from app import app

    payload = json.dumps(body).encode() if body is not None else b""
    if body is not None:
        headers = {**headers, "Content-Type": "application/json"}
    with Client(app) as client:
        started = time.monotonic()
        answer = client.http.request(method, path, headers=headers, body=payload)
        elapsed = time.monotonic() - started
    return answer.status_code, json.loads(answer.body), elapsed


CUSTOMER = "/v1/customers/0b0c7a61-7f39-4d3b-9a35-8d5c1f0e2a11"
SECRET = {"Authorization": "Basic " + base64.b64encode(f"{TEST_SECRET_KEY}:".encode()).decode()}

# One read and one create per service, each authenticated as its callers are (the lookup is the first AWS call).
ROUTES = [
    ("GET", "/api/github/configurations", SECRET, None, "pizzly"),
    ("POST", "/api/github/configurations", SECRET, {"client_id": "id-1", "client_secret": "s-1"}, "pizzly"),
    ("GET", CUSTOMER + "/connections", {"X-Api-Key": "sk_live_unknown"}, None, "broker"),
    ("POST", CUSTOMER + "/connections", {"X-Api-Key": "sk_1"}, {}, "broker"),
    ("POST", "/admin/customers", SECRET, {"name": "Acme"}, "pizzly"),
    ("GET", "/projects", {"Authorization": "API-KEY auth=0123456789abcdef"}, None, "autotune"),
    ("POST", "/themes", {"Authorization": "API-KEY auth=0123456789abcdef"}, {"title": "t"}, "autotune"),
    ("GET", "/api/v1/things", {"Authorization": "Bearer 0123456789abcdef"}, None, "platform"),
    ("POST", "/api/v1/things", {"Authorization": "Bearer 0123456789abcdef"}, {"name": "x"}, "platform"),
]


def assert_documented_503(style: str, body: Any) -> None:
    if style == "pizzly":
        assert body["error"]["type"] == "deadline_exceeded", body
    elif style == "broker":
        assert set(body) == {"detail"} and isinstance(body["detail"], str), body
    elif style == "autotune":
        assert set(body) == {"error"} and isinstance(body["error"], str), body
    else:
        assert body["success"] is False and body["code"] == "503" and body["tags"] == ["error_internal"], body


@pytest.mark.parametrize(("method", "path", "headers", "body", "style"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_a_stalled_aws_answers_the_documented_503_within_the_deadline(
    stalled: StalledPeer, monkeypatch: pytest.MonkeyPatch, method: str, path: str, headers: Any, body: Any, style: str
) -> None:
    # One AWS attempt alone may wait 30 s here (three 90 s): the 5 s deadline must end the request.
    configure(monkeypatch, REQUEST_DEADLINE_SECONDS="5", AWS_READ_TIMEOUT_SECONDS="30", AWS_MAX_ATTEMPTS="3")

    status, answer, elapsed = call(method, path, headers, body)

    assert status == 503
    assert_documented_503(style, answer)
    assert stalled.accepted >= 1  # the request did reach AWS, and waited for it
    assert elapsed < 20  # far below one attempt's read timeout: the deadline ended it (a margin for busy machines)


def test_an_aws_call_that_times_out_on_every_attempt_is_a_503_before_the_deadline(
    stalled: StalledPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, REQUEST_DEADLINE_SECONDS="25", AWS_READ_TIMEOUT_SECONDS="0.3", AWS_MAX_ATTEMPTS="2")

    status, answer, _ = call("GET", "/api/github/configurations", SECRET)

    assert status == 503
    assert answer["error"]["type"] == "aws_unavailable"  # the AWS limits ended it, not the deadline
    assert stalled.accepted >= 2  # the read timed out, and was retried once


def test_the_lambda_invocations_remaining_time_caps_the_deadline(
    stalled: StalledPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Lambda with less time left than the setting answers before its own timeout."""
    from chalicelib import deadline

    configure(monkeypatch, REQUEST_DEADLINE_SECONDS="25")

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 1800

    assert deadline.budget_seconds(Context()) == pytest.approx(1.3)
    assert deadline.budget_seconds(None) == 25.0
    assert deadline.budget_seconds(object()) == 25.0
    configure(monkeypatch, REQUEST_DEADLINE_SECONDS="0")
    assert deadline.budget_seconds(Context()) is None  # 0: no deadline at all


def test_outside_a_request_there_is_no_deadline() -> None:
    from chalicelib import deadline

    assert deadline.remaining() is None
    assert deadline.timeout(7.0) == 7.0
    with deadline.started(3.0):
        assert 2.5 < (deadline.remaining() or 0) <= 3.0
        assert deadline.timeout(7.0) <= 2.5
        assert deadline.timeout(1.0) == 1.0
        with deadline.started(10.0):  # a nested deadline never extends the outer one
            assert (deadline.remaining() or 0) <= 3.0
    assert deadline.remaining() is None


def test_a_wait_that_would_start_after_the_deadline_is_refused() -> None:
    from chalicelib import deadline

    with deadline.started(0.3), pytest.raises(deadline.DeadlineExceeded) as raised:
        deadline.timeout(10.0)
    assert raised.value.status == 503


def test_a_stalled_outside_party_answers_the_documented_503_within_the_deadline(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outbound HTTP (here the GitHub token check) waits no longer than the request has left."""
    peer = StalledPeer()
    try:
        configure(monkeypatch, REQUEST_DEADLINE_SECONDS="3", OUTBOUND_TIMEOUT_SECONDS="30", GITHUB_API_URL=peer.url)

        status, answer, elapsed = call("GET", "/api/v1/tags", {"X-Github-Token": "gho_" + "a" * 36})
    finally:
        peer.stop()

    assert status == 503, answer
    assert answer["status"].startswith("503") and answer["message"], answer  # giistr's documented body
    assert peer.accepted >= 1  # the check did go out, and waited
    assert elapsed < 15  # far below the 30 s outbound timeout: the request's deadline bounded the call
