"""The AWS emulator (moto's server) in a process of its own, as AWS is not inside a Lambda's process.

``Emulator(port)`` starts ``python -m infra.local.emulator PORT``; :meth:`Emulator.wait` returns once
it listens. The child serves until its standard input closes: when the stack stops it, or dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web

__all__ = ["Emulator"]

ROOT = Path(__file__).resolve().parents[2]


class Emulator:
    """moto's server on ``127.0.0.1:port`` (0 = a free port) in a child process."""

    def __init__(self, port: int = 0) -> None:
        self.port = port or _free_port()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "infra.local.emulator", str(self.port)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._ready = False

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self) -> None:
        """Block until the emulator listens (its first line says so), or raise OSError."""
        if self._ready:
            return
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if line.strip() != "ready":
            self.stop()
            raise OSError(f"the AWS emulator could not listen on 127.0.0.1:{self.port}")
        self._ready = True

    def get_host_and_port(self) -> tuple[str, int]:
        self.wait()
        return "127.0.0.1", self.port

    def stop(self) -> None:
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
        if self._process.stdout is not None:
            self._process.stdout.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wsgi_environ(request: Any, body: bytes) -> dict[str, Any]:
    """The WSGI environ moto's werkzeug handler builds, original header spellings included (S3 metadata)."""
    # moto is imported in the emulator's own process only: the stack's process starts without it (about 0.4 s).
    from moto.core.request import (
        PRESERVED_HEADER_NAMES_ENVIRON_KEY,
        environ_key_for_header,
        should_preserve_original_header_name,
    )

    host, _, port = (request.host or "127.0.0.1").partition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": request.path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": request.query_string,
        "SERVER_NAME": host,
        "SERVER_PORT": port or "80",
        "SERVER_PROTOCOL": f"HTTP/{request.version.major}.{request.version.minor}",
        "REMOTE_ADDR": request.remote or "127.0.0.1",
        "REQUEST_URI": request.raw_path,
        "RAW_URI": request.raw_path,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    names: dict[str, str] = {}
    for name, value in request.headers.items():
        key = environ_key_for_header(name)
        if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
            key = key[5:]
        environ[key] = f"{environ[key]},{value}" if key in environ else value
        if should_preserve_original_header_name(name):
            names.setdefault(key, name)
    environ.setdefault("CONTENT_LENGTH", str(len(body)))
    environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = names
    return environ


def _call_wsgi(app: Any, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    answer: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer[:] = [int(status.split(" ", 1)[0]), headers]
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return answer[0], answer[1], body


_HOP_BY_HOP = {"connection", "transfer-encoding", "content-length", "keep-alive"}


def wsgi_handler(app: Any, executor: Any) -> Any:
    """An aiohttp handler running the WSGI ``app`` (moto's) for each request (long polls in ``executor``).

    werkzeug's development server, which moto's own server uses, answers every request with
    ``Connection: close``: each AWS call then costs a new TCP connection and a new server thread, more
    than the call itself. aiohttp keeps connections alive and parses HTTP in C.
    """

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        environ = _wsgi_environ(request, body)
        if b"WaitTimeSeconds" in body:  # a long poll (SQS) waits in a thread of its own
            loop = asyncio.get_running_loop()
            status, headers, payload = await loop.run_in_executor(executor, _call_wsgi, app, environ)
        else:  # the rest is quick and CPU-bound: inline, without a thread switch per call
            status, headers, payload = _call_wsgi(app, environ)
        head = request.method == "HEAD"
        response = web.Response(status=status, body=None if head else payload)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP or (head and name.lower() == "content-length"):
                response.headers.add(name, value)
        return response

    return handle


def _cache_module_list() -> None:
    """moto lists its own package directory on every request to route it; the list never changes."""
    from moto import backends  # in the emulator's process only (see _wsgi_environ)

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def main() -> None:
    """The child: serve until standard input closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group; the stack stops us
    asyncio.run(_serve(int(sys.argv[1])))


async def _serve(port: int) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app  # (see _wsgi_environ)

    _cache_module_list()
    executor = ThreadPoolExecutor(8, thread_name_prefix="aws-emulator")  # for long polls only
    application = web.Application(client_max_size=1024**3)
    application.router.add_route(
        "*", r"/{tail:[\s\S]*}", wsgi_handler(DomainDispatcherApplication(create_backend_app), executor)
    )
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
    except OSError as e:
        print(f"failed: {e}", flush=True)
        sys.exit(1)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the stack closes our input (or goes away)
    await runner.cleanup()
    executor.shutdown(wait=False, cancel_futures=True)


if __name__ == "__main__":
    main()
