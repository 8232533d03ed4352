"""What the browser tests need besides the stack: their prerequisites, Chromium, and the page's own server.

The browser is Debian's ``chromium`` package driven by the ``playwright`` PyPI package (whose wheel
ships its node driver; no browser is downloaded). The page loads the real ``pizzly-js`` from npm,
installed by ``npm ci`` in ``tests/e2e/browser``. ``make test`` installs both; a missing one fails
the tests with that advice, unless ``KEYPORT_SKIP_BROWSER=1`` asks to skip them.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

SKIP_VARIABLE = "KEYPORT_SKIP_BROWSER"
CHROMIUM_VARIABLE = "KEYPORT_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
BROWSER_DIR = Path(__file__).resolve().parent / "browser"
PIZZLY_JS_VERSION = "0.2.8"
PIZZLY_JS_PACKAGE = BROWSER_DIR / "node_modules" / "pizzly-js" / "package.json"
PIZZLY_JS_BUNDLE = BROWSER_DIR / "node_modules" / "pizzly-js" / "dist" / "index.umd.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 20_000


def chromium_path() -> str:
    """Debian's Chromium, or the browser ``KEYPORT_CHROMIUM`` names (a Chrome or Chromium elsewhere)."""
    return os.environ.get(CHROMIUM_VARIABLE, "").strip() or DEFAULT_CHROMIUM


def missing_prerequisites() -> list[str]:
    """What the browser tests lack on this machine, in words; empty when they can run."""
    missing = []
    chromium = chromium_path()
    if not (os.path.isfile(chromium) and os.access(chromium, os.X_OK)):
        missing.append(f"no Chromium at {chromium} (Debian: apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (pip install -r requirements-dev.txt)")
    try:
        version = json.loads(PIZZLY_JS_PACKAGE.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        version = None
    if version != PIZZLY_JS_VERSION or not PIZZLY_JS_BUNDLE.is_file():
        found = f"found {version}" if version else "not installed"
        missing.append(f"pizzly-js {PIZZLY_JS_VERSION} in tests/e2e/browser/node_modules ({found}; npm ci there)")
    return missing


def require_browser() -> None:
    """Skip when asked to (KEYPORT_SKIP_BROWSER=1); otherwise fail, never skip, when something is missing."""
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"browser tests skipped: {SKIP_VARIABLE}=1")
    missing = missing_prerequisites()
    if missing:
        pytest.fail(
            "The browser tests cannot run; missing: "
            + "; ".join(missing)
            + ". Run `make test`, which installs them, or set KEYPORT_SKIP_BROWSER=1 to skip these tests.",
            pytrace=False,
        )


def launch_chromium(playwright: Any) -> Any:
    """Headless Chromium with nothing that reaches the network on its own."""
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


@contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on a free loopback port; yields its origin, ``http://127.0.0.1:PORT``."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="page-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def register_provider(stack: Any, provider: Any, integration: str, client_id: str, client_secret: str) -> None:
    """The provider knows Keyport as a client (PKCE, secret in the token request's body); Keyport knows the
    provider as ``integration`` (``stack`` is a running local stack, ``provider`` a started OAuth2Provider)."""
    provider.add_client(
        client_id,
        client_secret,
        [f"{stack.url}/auth/callback"],
        token_endpoint_auth_method="client_secret_post",
        require_pkce=True,
        scope="read write",
    )
    put = requests.put(
        f"{stack.url}/api/{integration}", auth=stack.auth, json=provider.definition("Local OAuth"), timeout=10
    )
    assert put.status_code in (200, 201), put.text
