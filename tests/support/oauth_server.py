"""A small real OAuth 2 token endpoint on 127.0.0.1, in a thread, that records what it is sent.

    server = OAuthServer().start()      # server.token_url == "http://127.0.0.1:<port>/token"
    server.rotate = True                # refresh_token grants also answer a new refresh token
    server.fail_with(400, {"error": "invalid_grant"})   # every following answer, until reset()
    server.delay_ms = 300               # sleep before answering
    server.requests                     # every request received, as Recorded
    server.stop()

Any path answers as the token endpoint (``/token``, ``/refresh``...); the path is recorded, so a
test can tell which URL Keyport used. Tokens are counted: ``access-1``, ``access-2`` ... and
``refresh-1`` ... for rotated refresh tokens.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Recorded:
    """One request as the provider received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    content_type: str
    body: dict[str, Any]  # the parsed form (one value per name) or JSON object
    raw: bytes

    def basic_credentials(self) -> tuple[str, str] | None:
        """(user, password) of an HTTP Basic Authorization header, or None."""
        header = self.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user, password


@dataclass
class OAuthServer:
    """The provider's state: what it answers and what it received."""

    rotate: bool = False
    delay_ms: int = 0
    expires_in: int | None = 3600
    failure: tuple[int, dict[str, Any]] | None = None
    requests: list[Recorded] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    def start(self) -> OAuthServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fail_with(self, status: int, body: dict[str, Any] | None = None) -> None:
        """Answer every following request with ``status`` and ``body`` (JSON)."""
        self.failure = (status, body or {})

    def reset(self) -> None:
        """Answer tokens again, without delay, numbered from 1, and forget the requests received."""
        self.failure = None
        self.delay_ms = 0
        with self._lock:
            self.requests.clear()
            self._counter = itertools.count(1)

    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def last(self) -> Recorded:
        with self._lock:
            assert self.requests, "the provider received no request"
            return self.requests[-1]

    # -- answering -------------------------------------------------------------------------------

    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            self.requests.append(recorded)

    def _answer(self, recorded: Recorded) -> tuple[int, dict[str, Any]]:
        if self.delay_ms:
            time.sleep(self.delay_ms / 1000)
        if self.failure is not None:
            return self.failure
        grant = recorded.body.get("grant_type")
        if grant not in ("refresh_token", "authorization_code", "client_credentials"):
            return 400, {"error": "unsupported_grant_type"}
        if grant == "refresh_token" and not recorded.body.get("refresh_token"):
            return 400, {"error": "invalid_request", "error_description": "refresh_token is required"}
        with self._lock:
            number = next(self._counter)
        token: dict[str, Any] = {"access_token": f"access-{number}", "token_type": "bearer"}
        if self.expires_in is not None:
            token["expires_in"] = self.expires_in
        if self.rotate or grant == "authorization_code":
            token["refresh_token"] = f"refresh-{number}"
        return 200, token


def _handler_for(state: OAuthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: pytest shows what matters."""

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            content_type = self.headers.get("content-type", "")
            body: dict[str, Any]
            if "json" in content_type:
                try:
                    parsed = json.loads(raw or b"{}")
                except ValueError:
                    parsed = {}
                body = parsed if isinstance(parsed, dict) else {}
            else:
                body = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
            recorded = Recorded(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                content_type=content_type,
                body=body,
                raw=raw,
            )
            state._record(recorded)
            status, answer = state._answer(recorded)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = _handle
        do_GET = _handle
        do_PUT = _handle

    return Handler
