"""A real local HTTP server standing in for the GitHub API's ``GET /user``.

Tests register the tokens GitHub would accept, revoke them, and switch the server into the failure
modes GitHub shows: the primary rate limit (403 with ``X-RateLimit-Remaining: 0``), 429 with
``Retry-After``, and server errors. :func:`unreachable_url` names a port nothing listens on.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class GithubStandIn:
    """What the stand-in answers, and what it was asked."""

    url: str = ""
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> GitHub user
    failure: str | None = None  # None, "rate-limit-403", "rate-limit-429", "server-error"
    requests: list[dict[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def accept(self, token: str, github_id: int, login: str | None = None) -> None:
        """GitHub accepts ``token`` as the account ``github_id``."""
        self.accounts[token] = {"login": login or f"user{github_id}", "id": github_id, "type": "User"}

    def revoke(self, token: str) -> None:
        """GitHub no longer accepts ``token`` (401 Bad credentials)."""
        self.accounts.pop(token, None)

    def calls(self) -> int:
        """How many requests the stand-in received."""
        with self._lock:
            return len(self.requests)

    def answer(self, path: str, authorization: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            self.requests.append({"path": path, "authorization": authorization})
        if self.failure == "rate-limit-403":
            reset = str(int(time.time()) + 120)
            headers = {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
            return 403, headers, {"message": "API rate limit exceeded for 127.0.0.1."}
        if self.failure == "rate-limit-429":
            return 429, {"Retry-After": "30"}, {"message": "You have exceeded a secondary rate limit."}
        if self.failure == "server-error":
            return 502, {}, {"message": "Server Error"}
        if path != "/user":
            return 404, {}, {"message": "Not Found"}
        scheme, _, token = authorization.partition(" ")
        account = self.accounts.get(token) if scheme == "token" else None
        if account is None:
            return 401, {"X-RateLimit-Remaining": "59"}, {"message": "Bad credentials"}
        return 200, {"X-RateLimit-Remaining": "59"}, account


def _handler(stand_in: GithubStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = stand_in.answer(self.path, self.headers.get("Authorization", ""))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tokens appear in requests
            return

    return Handler


@contextmanager
def github_stand_in() -> Iterator[GithubStandIn]:
    """A running stand-in on a free loopback port, stopped on exit."""
    stand_in = GithubStandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in))
    server.daemon_threads = True
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def unreachable_url() -> str:
    """A loopback URL where nothing listens (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
