"""A WSGI application served on an ephemeral port of 127.0.0.1 in a daemon thread, for the providers that
tests talk to over real HTTP (tests/support/oauth1_provider.py, oauth2_provider.py)."""

from __future__ import annotations

import threading
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class ServedLocally:
    """Serves ``self.app`` while started (``with provider:`` or ``start()``/``stop()``); ``base_url`` is where."""

    app: Any
    base_url: str = ""
    thread_name = "local-wsgi"
    _server: BaseWSGIServer | None = None

    def start(self) -> str:
        """Serve on an ephemeral port of 127.0.0.1 in a daemon thread; the base URL."""
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        server = self._server
        threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05), name=self.thread_name, daemon=True
        ).start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
