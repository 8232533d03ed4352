"""The gateway's core: AWS limits, shared state, and calling the app (in this process or on a worker).

Every emulated API (``rest``, ``websocket``, ``invoke``, ``schedules``) is a mixin over
:class:`GatewayCore`; :class:`~infra.local.gateway.server.LocalGateway` puts them together.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from chalice.app import Chalice
from multidict import CIMultiDict

from infra.local.function_limits import (
    API_HANDLER,
    WEBSOCKET_FUNCTIONS,
    WEBSOCKET_MESSAGE_FUNCTION,
    FunctionLimits,
    limits,
)
from infra.local.lambda_context import DEFAULT_ACCOUNT_ID, FakeLambdaContext
from infra.local.workers import InvocationError, WorkerPool, resolve_handler, serialise_result

if TYPE_CHECKING:
    from infra.local.gateway.websocket import Connection

#: One logger for the whole gateway, whichever module logs.
log = logging.getLogger(__package__)

#: API Gateway REST APIs refuse payloads over 10 MiB with 413 {"message": "Request Too Long"}.
MAX_REQUEST_BODY = 10 * 1024 * 1024
#: API Gateway WebSocket APIs accept messages of at most 128 KiB.
MAX_WEBSOCKET_MESSAGE = 128 * 1024
#: Lambda's synchronous Invoke payload limit (request and response).
MAX_SYNC_INVOKE_PAYLOAD = 6 * 1024 * 1024
#: Lambda's synchronous response limit, on the JSON the handler returns ("Response payload size exceeded
#: maximum allowed payload size (6291556 bytes)"). API Gateway answers a larger proxy response with a 502.
MAX_SYNC_RESPONSE_PAYLOAD = 6_291_556
#: API Gateway's URL length limit for an edge-optimized REST API (Chalice's default endpoint type); here
#: the request target (path and query string) is measured. Longer → 414 {"message": "Request-URI Too Long"}.
MAX_URL_LENGTH = 8192
#: API Gateway's limit on the request line and header values together. Larger → 431.
MAX_HEADER_BYTES = 10240

_ID_ALPHABET = string.ascii_letters + string.digits

Handler = Callable[[Any, Any], Any]


def random_id(length: int) -> str:
    """``length`` letters and digits, like the ids API Gateway makes."""
    # One read of the system's randomness (secrets.choice reads it once per character, twice per request).
    return "".join(_ID_ALPHABET[byte % len(_ID_ALPHABET)] for byte in secrets.token_bytes(length))


def now_ms() -> int:
    return int(time.time() * 1000)


def request_time(epoch_ms: int) -> str:
    """``requestContext.requestTime``'s format."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def trace_id() -> str:
    """An X-Ray trace header value (``X-Amzn-Trace-Id``)."""
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def json_response(status: int, payload: Any, *, error_type: str | None = None) -> web.Response:
    """An AWS-style JSON answer, with ``x-amzn-ErrorType`` when it is an error of a named type."""
    headers = CIMultiDict({"Content-Type": "application/json"})
    if error_type:
        headers["x-amzn-ErrorType"] = error_type
    return web.Response(status=status, body=json.dumps(payload).encode(), headers=headers)


class LockTimeout(Exception):
    """The app lock could not be taken in time (another call holds it)."""


class GatewayCore:
    """The state every emulated API shares, and the one way into the app: :meth:`_call`."""

    def __init__(
        self,
        app: Chalice,
        *,
        stage: str = "api",
        host: str = "127.0.0.1",
        port: int = 8000,
        lambda_stage: str = "dev",
        function_timeout: float | None = None,
        integration_timeout: float = 29.0,
        memory_limit_in_mb: int | None = None,
        chalice_config: Mapping[str, Any] | None = None,
        run_schedules: bool = True,
        configure_websocket: bool = True,
        account_id: str = DEFAULT_ACCOUNT_ID,
        max_workers: int = 32,
        workers: WorkerPool | None = None,
    ) -> None:
        self.app = app
        self.stage = stage
        self.host = host
        self.port = port
        #: The Chalice stage used in Lambda function names ("<app>-<lambda_stage>-<name>").
        self.lambda_stage = lambda_stage
        #: Every function's timeout and memory, when given; else each function's from ``chalice_config``
        #: (``.chalice/config.json`` for ``lambda_stage``), else Chalice's defaults (60 s, 128 MB).
        self.function_timeout = function_timeout
        self.memory_limit_in_mb = memory_limit_in_mb
        self.chalice_config: Mapping[str, Any] = chalice_config or {}
        self.integration_timeout = integration_timeout
        self.run_schedules = run_schedules
        #: Point app.websocket_api at this gateway in start() unless the app already set an endpoint.
        self.configure_websocket = configure_websocket
        self.account_id = account_id
        self._lock = threading.Lock()
        self._max_workers = max_workers
        #: Worker processes that run the invocations; None = call the handlers in this process, one at a time.
        self.workers = workers
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._runner: web.BaseRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        #: Tasks nobody awaits (asynchronous invocations, websocket closes), kept until they end.
        self._background: set[asyncio.Task[Any]] = set()
        # The WebSocket API's open connections and the schedules' timers (see websocket.py, schedules.py).
        self._connections: dict[str, Connection] = {}
        self._ws_warned: set[str] = set()
        self._mgmt_re = re.compile(rf"^(?:/{re.escape(stage)})?/@connections/(?P<id>[^/]+)/?$")
        self._schedule_tasks: list[asyncio.Task[Any]] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def management_endpoint(self) -> str:
        """``endpoint_url`` for an ``apigatewaymanagementapi`` client (``{url}/{stage}``)."""
        return f"{self.url}/{self.stage}"

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``work`` in the background; :meth:`stop` waits a little for what is still running."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _read_body(self, request: web.BaseRequest) -> bytes | None:
        """The request body, or None when it is over API Gateway's payload limit."""
        if request.content_length is not None and request.content_length > MAX_REQUEST_BODY:
            return None
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            return None

    # ---- calling the app ---------------------------------------------------------------------------

    def function_limits(self, name: str | None = None) -> FunctionLimits:
        """The timeout and memory of the function the gateway calls as ``name`` (None or "": the REST API's)."""
        declared = limits(self.chalice_config, self.lambda_stage, self._deployed_name(name))
        return FunctionLimits(
            self.function_timeout if self.function_timeout is not None else declared.timeout,
            self.memory_limit_in_mb if self.memory_limit_in_mb is not None else declared.memory_mb,
        )

    def _deployed_name(self, name: str | None) -> str:
        """The name Chalice deploys the function under (its key in ``lambda_functions``)."""
        if not name:
            return API_HANDLER
        for route_key, config in self.app.websocket_handlers.items():
            if config.name == name:
                return WEBSOCKET_FUNCTIONS.get(route_key, WEBSOCKET_MESSAGE_FUNCTION)
        return name

    def _context(self, name: str | None = None) -> FakeLambdaContext:
        function_name = f"{self.app.app_name}-{self.lambda_stage}" + (f"-{name}" if name else "")
        chosen = self.function_limits(name)
        return FakeLambdaContext(
            function_name,
            timeout=chosen.timeout,
            memory_limit_in_mb=chosen.memory_mb,
            account_id=self.account_id,
        )

    def _call_locked(self, handler: Handler, event: Any, context: Any) -> str:
        # Waiting for the app lock counts against the function's timeout, as its context says.
        if not self._lock.acquire(timeout=context.get_remaining_time_in_millis() / 1000):
            raise LockTimeout("the app lock was held for longer than the function timeout")
        try:
            return serialise_result(handler(event, context))
        finally:
            self._lock.release()

    async def _call(self, target: str, event: Any, context: Any, *, timeout: float | None = None) -> str:
        """Invoke ``target`` (``""``: the REST API handler, else a function name); its result as JSON text.

        A failure raises :class:`InvocationError` (workers) or the handler's own exception (in-process).
        """
        if self.workers is not None:
            call = self.workers.invoke(target, event, context)
            return await (call if timeout is None else asyncio.wait_for(call, timeout))
        if self._executor is None:
            raise RuntimeError("LocalGateway.start() has not been awaited")
        handler = self._handler_for(target)
        if handler is None:
            raise InvocationError("Runtime.HandlerNotFound", f"No handler named {target!r}")
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._call_locked, handler, event, context)
        if timeout is None:
            return await future
        return await asyncio.wait_for(future, timeout)

    def _handler_for(self, name: str) -> Handler | None:
        """The Lambda entry point Chalice deploys for ``name`` (``""``: the REST API's, the app itself)."""
        return resolve_handler(self.app, name)
