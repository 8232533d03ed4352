"""A small real HTTP(S) server on 127.0.0.1, in a thread, standing for any outside host.

    with HttpPeer() as peer:                # peer.url == "http://127.0.0.1:<port>"
        peer.redirect_to = "http://169.254.169.254/"   # /redirect answers 302 to it
        peer.requests                       # every request received: (method, raw path, headers)

Any other path answers 200 with a JSON echo of the method, the raw path as received, the Host header
and the Cookie header; ``/set-cookie`` also sets a cookie. ``HttpPeer(tls=(certfile, keyfile))``
serves HTTPS with that certificate.
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    """One request as the peer received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names


@dataclass
class HttpPeer:
    tls: tuple[str, str] | None = None
    redirect_to: str = ""
    requests: list[Seen] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "start the peer first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> HttpPeer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _handler_for(peer: HttpPeer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # as real servers do: no 40 ms stall on kept-alive connections

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet."""

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            peer.requests.append(Seen(self.command, self.path, headers))
            if self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", peer.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = json.dumps(
                {
                    "method": self.command,
                    "path": self.path,
                    "host": headers.get("host"),
                    "cookie": headers.get("cookie"),
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if self.path.startswith("/set-cookie"):
                self.send_header("Set-Cookie", "session=tenant-a; Path=/")
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler
