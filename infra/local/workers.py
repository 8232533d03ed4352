"""Lambda-like workers for the local gateway: one process per concurrent invocation.

Lambda runs concurrent invocations in separate execution environments, each importing the code once
and keeping its own module state, caches and SDK clients between the invocations it serves one at a
time. :class:`WorkerPool` does the same on one machine: ``size`` processes (spawned, so each imports
the app itself), each handling one invocation at a time. The gateway hands an invocation to a free
worker and waits for its answer without blocking its event loop, so a handler can call back into the
gateway (the websocket management API, Lambda ``Invoke``) over HTTP as it would on AWS.

An invocation is ``(target, event, context fields)``: ``target`` is ``""`` for the REST API handler
(the Chalice app object) or the name Chalice registered a function under (``app.handler_map``,
``@app.lambda_function``). The worker answers the handler's result serialised to JSON, as the Lambda
runtime does, or the error the runtime would report. A worker that runs past the function's timeout
is killed and replaced (Lambda's ``Sandbox.Timedout``); one that dies is replaced too.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from infra.local.lambda_context import FakeLambdaContext, context_fields

__all__ = ["InvocationError", "WorkerPool", "default_pool_size", "resolve_handler", "serialise_result"]

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]

Handler = Callable[[Any, Any], Any]

#: Environment variable choosing the number of worker processes of the local stack (0 = in-process).
WORKERS_ENV = "KEYPORT_LOCAL_WORKERS"


def default_pool_size() -> int:
    """``KEYPORT_LOCAL_WORKERS``, else the number of cores (0 means: no workers, call in-process)."""
    configured = os.environ.get(WORKERS_ENV, "").strip()
    if configured:
        return max(0, int(configured))
    return max(1, os.cpu_count() or 1)


class InvocationError(Exception):
    """A failed invocation as the Lambda runtime reports it (``errorType``, ``errorMessage``, ``stackTrace``)."""

    def __init__(self, error_type: str, message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack_trace = stack_trace or []


def serialise_result(result: Any) -> str:
    """The handler's result as the Lambda runtime sends it: JSON, or ``Runtime.MarshalError``."""
    try:
        return json.dumps(result)
    except (TypeError, ValueError) as exc:
        raise InvocationError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from exc


def resolve_handler(app: Any, target: str) -> Handler | None:
    """The entry point Lambda would call for ``target``: the app for ``""``, else the registered function."""
    if target == "":
        return app
    handler = app.handler_map.get(target)
    if handler is not None:
        return handler
    for function in app.pure_lambda_functions:
        if function.name == target:
            return function
    return None


# --------------------------------------------------------------------------------------------------
# Inside a worker process
# --------------------------------------------------------------------------------------------------


def _worker_main(conn: Connection, app_module: str, management_endpoint: str | None) -> None:
    """A worker's life: import the app once (its init phase), then serve invocations one at a time."""
    # Ctrl-C reaches the whole process group; the stack stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    for noisy in ("botocore", "pynamodb", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        app = importlib.import_module(app_module).app
        api = getattr(app, "websocket_api", None)
        if management_endpoint and api is not None and app.websocket_handlers and api._endpoint is None:
            # On AWS Chalice derives the endpoint from each event's API id; here it is the gateway's.
            api._endpoint = management_endpoint
    except BaseException:
        conn.send(("failed", traceback.format_exc()))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return  # the gateway is gone
        if job is None:
            return
        target, event, fields = job
        conn.send(_run(app, target, event, FakeLambdaContext.from_fields(fields)))


def _run(app: Any, target: str, event: Any, context: FakeLambdaContext) -> tuple[Any, ...]:
    handler = resolve_handler(app, target)
    if handler is None:
        return ("error", "Runtime.HandlerNotFound", f"No handler named {target!r}", [])
    try:
        return ("ok", serialise_result(handler(event, context)))
    except InvocationError as exc:
        return ("error", exc.error_type, exc.message, [])
    except Exception as exc:  # reported to the caller as Lambda reports an unhandled error
        return ("error", type(exc).__name__, str(exc), traceback.format_tb(exc.__traceback__))


# --------------------------------------------------------------------------------------------------
# The pool (in the gateway's process)
# --------------------------------------------------------------------------------------------------


def _frame(message: Any) -> bytes:
    """One message as ``multiprocessing.connection`` frames it (what the worker's ``Connection`` reads)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) > 0x7FFFFFFF:
        return struct.pack("!i", -1) + struct.pack("!Q", len(data)) + data
    return struct.pack("!i", len(data)) + data


class _Worker:
    """One worker process and the gateway's end of its socket (asyncio streams: no thread per worker)."""

    def __init__(self, process: subprocess.Popen[bytes], reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.process = process
        self.reader = reader
        self.writer = writer

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.writer.close()

    async def read(self) -> Any:
        (size,) = struct.unpack("!i", await self.reader.readexactly(4))
        if size == -1:
            (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return pickle.loads(await self.reader.readexactly(size))

    async def roundtrip(self, job: tuple[Any, ...], timeout: float) -> tuple[Any, ...]:
        """Send one invocation and wait for its answer, killing the worker past ``timeout`` seconds."""
        request_id = job[2]["aws_request_id"]
        try:
            self.writer.write(_frame(job))
            await self.writer.drain()
            answer: tuple[Any, ...] = await asyncio.wait_for(self.read(), timeout)
            return answer
        except TimeoutError:
            self.kill()
            message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
            return ("error", "Sandbox.Timedout", message, [])
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            self.kill()
            code = self.process.returncode
            return ("error", "Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited ({code})", [])


class WorkerPool:
    """``size`` worker processes importing ``app_module`` (a module with a Chalice ``app``)."""

    def __init__(
        self,
        app_module: str = "app",
        size: int | None = None,
        *,
        management_endpoint: str | None = None,
        start_timeout: float = 120.0,
    ) -> None:
        self.app_module = app_module
        self.size = size if size is not None else default_pool_size()
        if self.size < 1:
            raise ValueError("a worker pool needs at least one worker")
        #: Where Chalice's ``app.websocket_api`` sends from a worker (the gateway's management API).
        self.management_endpoint = management_endpoint
        self.start_timeout = start_timeout
        self._idle: asyncio.Queue[_Worker] | None = None
        self._all: set[_Worker] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False

    @property
    def started(self) -> bool:
        return self._idle is not None

    async def start(self) -> None:
        """Spawn every worker (they import the app in parallel) and return once each is ready."""
        if self._idle is not None:
            return
        self._idle = asyncio.Queue()
        workers = await asyncio.gather(*(self._spawn() for _ in range(self.size)))
        for worker in workers:
            self._idle.put_nowait(worker)
        log.info("%d Lambda workers ready (%s)", self.size, self.app_module)

    async def _spawn(self) -> _Worker:
        # A fresh interpreter (python -m infra.local.workers), not a fork: its own imports, nothing inherited.
        ours, theirs = socket.socketpair()
        with theirs:
            command = [sys.executable, "-m", "infra.local.workers", str(theirs.fileno()), self.app_module]
            process = subprocess.Popen(
                [*command, self.management_endpoint or ""], cwd=ROOT, pass_fds=(theirs.fileno(),)
            )
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        worker = _Worker(process, reader, writer)
        try:
            status, detail = await asyncio.wait_for(worker.read(), self.start_timeout)
        except TimeoutError as exc:
            worker.kill()
            raise RuntimeError(f"a worker did not import {self.app_module} within {self.start_timeout:.0f} s") from exc
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            worker.kill()
            raise RuntimeError(f"a worker exited while importing {self.app_module}") from exc
        if status != "ready":
            worker.kill()
            raise RuntimeError(f"a worker could not import {self.app_module}:\n{detail}")
        self._all.add(worker)
        return worker

    async def invoke(self, target: str, event: Any, context: Any) -> str:
        """Run one invocation on a free worker; the result as JSON text, or :class:`InvocationError`.

        The invocation runs to its end (or its function timeout) even if the caller stops waiting,
        as a Lambda invocation does when API Gateway gives up after 29 s.
        """
        if self._idle is None:
            raise RuntimeError("WorkerPool.start() has not been awaited")
        task = asyncio.ensure_future(self._invoke(target, event, context_fields(context)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    async def _invoke(self, target: str, event: Any, fields: dict[str, Any]) -> str:
        assert self._idle is not None
        worker = await self._idle.get()
        timeout = max(fields["remaining_ms"], 1) / 1000
        try:
            answer = await worker.roundtrip((target, event, fields), timeout)
        finally:
            self._release(worker)
        if answer[0] == "ok":
            return str(answer[1])
        raise InvocationError(answer[1], answer[2], list(answer[3]))

    def _release(self, worker: _Worker) -> None:
        assert self._idle is not None
        if worker.alive():
            self._idle.put_nowait(worker)
            return
        self._all.discard(worker)
        if self._stopping:
            return
        log.warning("a Lambda worker ended (exit code %s); starting another", worker.process.returncode)
        task = asyncio.ensure_future(self._replace())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replace(self) -> None:
        assert self._idle is not None
        try:
            worker = await self._spawn()
        except RuntimeError:
            log.exception("could not replace a Lambda worker")
            return
        self._idle.put_nowait(worker)

    async def stop(self) -> None:
        """Ask every worker to exit (killing those still busy after a moment). Idempotent."""
        self._stopping = True
        workers = list(self._all)
        for worker in workers:
            with contextlib.suppress(OSError, RuntimeError):
                worker.writer.write(_frame(None))
        deadline = time.monotonic() + 3
        while any(w.alive() for w in workers) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for worker in workers:
            worker.kill()
        self._all.clear()
        for task in list(self._tasks):
            task.cancel()


def main() -> None:
    """A worker process: ``python -m infra.local.workers FD APP_MODULE [MANAGEMENT_ENDPOINT]``."""
    _worker_main(Connection(int(sys.argv[1])), sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else "") or None)


if __name__ == "__main__":
    main()
