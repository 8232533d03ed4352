"""How long a request takes to answer when AWS stalls (accepts connections, never answers).

Before: the AWS clients' own limits (connect 3 s, read 10 s, PynamoDB's 4 attempts) and no request
deadline: one DynamoDB read alone outlasts API Gateway's 29 s, so the caller got the gateway's 504.
After: the request deadline (``REQUEST_DEADLINE_SECONDS``) and the AWS settings bound every attempt.

Run by hand (about a minute): ``.venv/bin/python -m bench.stalled_aws``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import threading
import time
from typing import Any

from bench.in_process import ENVIRONMENT

os.environ.update(ENVIRONMENT)

GATEWAY_LIMIT = 29.0
OLD_LIMITS = {"AWS_CONNECT_TIMEOUT_SECONDS": "3", "AWS_READ_TIMEOUT_SECONDS": "10", "AWS_MAX_ATTEMPTS": "4"}
AFTER_DEFAULTS = (*OLD_LIMITS, "REQUEST_DEADLINE_SECONDS")


def stalled_endpoint() -> str:
    """A TCP server that accepts every connection and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            conn, _ = server.accept()
            held.append(conn)

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}"


def configure(**values: str) -> None:
    from chalicelib import aws
    from chalicelib.settings import clear_settings, get_settings

    for name in AFTER_DEFAULTS:
        os.environ.pop(name, None)
    os.environ.update(values)
    clear_settings()
    get_settings()
    aws.reset()


def before() -> float:
    """The old limits, no deadline: one DynamoDB read, as the configurations list made it."""
    from chalicelib.oauth.models import Configuration

    configure(**OLD_LIMITS)
    started = time.monotonic()
    with contextlib.suppress(Exception):  # the outcome is the point: how long until it gave up
        list(Configuration.by_integration.query("github", limit=1))
    return time.monotonic() - started


def after(method: str, path: str, body: Any = None, **settings: str) -> tuple[int, str, float]:
    """The current settings (or ``settings``), through the app: status, error type and seconds to answer."""
    from chalice.test import Client

    from app import app

    app.log.setLevel("CRITICAL")  # each 503 is logged with its traceback
    configure(**settings)
    headers = {"Authorization": "Basic " + base64.b64encode(b"bench-secret-key:").decode()}
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    with Client(app) as client:
        started = time.monotonic()
        answer = client.http.request(method, path, headers=headers, body=data)
        elapsed = time.monotonic() - started
    decoded = json.loads(answer.body)
    return answer.status_code, str(decoded.get("error", {}).get("type")), elapsed


def main() -> None:
    os.environ["AWS_ENDPOINT_URL"] = stalled_endpoint()
    print("Stalled AWS (accepts, never answers): seconds until the caller gets an answer")
    old = before()
    verdict = "API Gateway answers 504 at 29 s" if old > GATEWAY_LIMIT else "inside the gateway limit"
    print(f"  before  one DynamoDB read, old limits, no deadline   {old:6.1f} s  ({verdict})")
    for method, path, body in [
        ("GET", "/api/github/configurations", None),
        ("POST", "/api/github/configurations", {"credentials": {"clientId": "a", "clientSecret": "b"}}),
        ("POST", "/admin/customers", {"name": "Acme"}),
    ]:
        status, kind, elapsed = after(method, path, body)
        print(f"  after   {method:4} {path:30} {status} {kind:18} {elapsed:6.1f} s")
    status, kind, elapsed = after("GET", "/api/github/configurations", REQUEST_DEADLINE_SECONDS="3")
    print(f"  after   GET  /api/github/configurations (3 s deadline) {status} {kind:18} {elapsed:6.1f} s")


if __name__ == "__main__":
    main()
