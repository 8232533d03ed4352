"""A local API Gateway (REST + WebSocket) and Lambda emulator for a Chalice app, on one aiohttp port.

Every HTTP request is turned into the REST API Lambda proxy event (payload format 1.0) that API Gateway
would send, every websocket connect / frame / close into the WebSocket API event, and the app's own
Lambda handler (``app(event, context)`` or the wrapped handler Chalice registered) is called with it.
The same port also serves the API Gateway management API (``/@connections/{id}``) and the Lambda
``Invoke`` API (``/2015-03-31/functions/{name}/invocations``) so that boto3 clients pointed at the
gateway work unchanged. See ``docs/local-gateway.md``.

With a :class:`~infra.local.workers.WorkerPool` (what the local stack uses), each invocation runs in
a free worker process, one invocation per worker at a time, as Lambda runs concurrent invocations in
separate instances. Without one, calls into the app are serialised with one lock (Chalice keeps the
current request on the app object) and run in threads of this process; the unit tests use that mode.
Either way the event loop stays free for the app's calls back into the gateway.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import functools
import json
import logging
import os
import re
import secrets
import string
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import WSMsgType, web
from aiohttp.http_exceptions import LineTooLong
from chalice.app import (
    BaseLambdaHandler,
    Chalice,
    RouteEntry,
    ScheduledEventConfig,
    ScheduleExpression,
)
from multidict import CIMultiDict

from infra.local.workers import InvocationError, WorkerPool, resolve_handler, serialise_result

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_REQUEST_BODY",
    "MAX_URL_LENGTH",
    "FakeLambdaContext",
    "GatewayThread",
    "LocalGateway",
    "content_type_matches",
    "match_route",
    "parse_rate",
    "run_in_thread",
]

log = logging.getLogger(__name__)

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
# What aiohttp's parser itself accepts: well above the limits above, so that the gateway measures them and
# answers in JSON. Beyond these the parser gives up and the protocol below answers (also in JSON).
_PARSER_MAX_LINE = 64 * 1024
_PARSER_MAX_FIELD = 64 * 1024 - 1  # differs from _PARSER_MAX_LINE: tells a long request line from a long header
_PARSER_MAX_HEADERS = MAX_HEADER_BYTES // 4

DEFAULT_ACCOUNT_ID = "123456789012"
_ID_ALPHABET = string.ascii_letters + string.digits
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}
_RATE_RE = re.compile(r"^\s*rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)\s*$", re.IGNORECASE)
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_INVOKE_RE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")

Handler = Callable[[Any, Any], Any]


# --------------------------------------------------------------------------------------------------
# Pure helpers (unit-testable without a server)
# --------------------------------------------------------------------------------------------------


def content_type_matches(content_type: str, binary_types: Iterable[str]) -> bool:
    """Chalice's (and API Gateway's) binary media type rule: ``*/*`` on either side matches everything,
    otherwise one of the ``,``/``;``-separated parts of ``content_type`` must be one of ``binary_types``
    (case-insensitively). Mirrors ``chalice.app._matches_content_type``."""
    content_type = content_type.lower()
    valid = {t.lower() for t in binary_types}
    if "*/*" in content_type or "*/*" in valid:
        return True
    parts = {p.strip() for p in re.split("[,;]", content_type)}
    return bool(valid & parts)


def parse_rate(expression: str | ScheduleExpression) -> float | None:
    """Seconds between runs for ``rate(N minute|minutes|hour|hours|day|days)``; None for anything else."""
    text = expression.to_string() if isinstance(expression, ScheduleExpression) else str(expression)
    found = _RATE_RE.match(text)
    if not found:
        return None
    unit = found.group(2).lower().rstrip("s")
    return float(int(found.group(1)) * _RATE_UNITS[unit])


def _split_pattern(pattern: str) -> list[str]:
    stripped = pattern.strip("/")
    return stripped.split("/") if stripped else []


def _segment_kind(segment: str) -> int:
    """0 = static, 1 = ``{var}``, 2 = greedy ``{var+}`` (lower wins, as in API Gateway)."""
    if segment.startswith("{") and segment.endswith("}"):
        return 2 if segment.endswith("+}") else 1
    return 0


@functools.lru_cache(maxsize=4096)
def _compile_pattern(pattern: str) -> tuple[tuple[str, int], ...]:
    """A route pattern's segments with their kinds, computed once per pattern."""
    return tuple((part, _segment_kind(part)) for part in _split_pattern(pattern))


def _match_pattern(
    pattern: tuple[tuple[str, int], ...], segments: list[str]
) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """Match decoded request ``segments`` against one compiled route ``pattern``; (score, params) or None."""
    if (not pattern or pattern[-1][1] != 2) and len(pattern) != len(segments):
        return None  # only a greedy pattern matches a path of another length
    score: list[int] = []
    params: dict[str, str] = {}
    for index, (part, kind) in enumerate(pattern):
        if kind == 2:
            rest = segments[index:]
            if index != len(pattern) - 1 or not rest or not "/".join(rest):
                return None
            params[part[1:-2]] = "/".join(rest)
            score.append(2)
            return tuple(score), params
        if index >= len(segments):
            return None
        segment = segments[index]
        if kind == 1:
            if not segment:
                return None
            params[part[1:-1]] = segment
        elif segment != part:
            return None
        score.append(kind)
    if len(segments) != len(pattern):
        return None
    return tuple(score), params


def _has_method(methods: Mapping[str, Any], method: str) -> bool:
    """Whether a resource has ``method``: declared, ``ANY``, or the CORS preflight Chalice adds."""
    if method in methods or "ANY" in methods:
        return True
    return method == "OPTIONS" and any(getattr(entry, "cors", None) for entry in methods.values())


def match_route(
    routes: Mapping[str, Mapping[str, Any]], raw_path: str, method: str | None = None
) -> tuple[str, dict[str, str]] | None:
    """The API Gateway REST resource for ``raw_path`` (still percent-encoded) and its path parameters.

    Segment by segment a static segment beats ``{var}``, which beats a greedy ``{var+}`` (one or more
    remaining segments); the first segment where two candidates differ decides (API Gateway's resource
    tree walk, with backtracking). One trailing slash is ignored. Parameter values are URL-decoded;
    a greedy value is the rest of the path without its leading slash. Resources with no methods
    (``app.routes`` is a defaultdict) are skipped: API Gateway creates method-less resources for
    intermediate segments (``/admin`` under ``/admin/users``), and a request to one falls through to
    the next candidate, such as a greedy ``/{proxy+}``. With ``method``, routing is on the
    resource-and-method pair, as in API Gateway: a resource without that method is skipped the same
    way, so ``None`` means 403 Missing Authentication Token.
    """
    path = raw_path or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    stripped = path[1:] if path.startswith("/") else path
    segments = [unquote(s) for s in stripped.split("/")] if stripped else []
    best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
    for pattern, methods in routes.items():
        if not methods or (method is not None and not _has_method(methods, method)):
            continue
        found = _match_pattern(_compile_pattern(pattern), segments)
        if found is None:
            continue
        score, params = found
        if best is None or score < best[0]:
            best = (score, pattern, params)
    if best is None:
        return None
    return best[1], best[2]


def _random_id(length: int) -> str:
    # One read of the system's randomness (secrets.choice reads it once per character, twice per request).
    return "".join(_ID_ALPHABET[byte % len(_ID_ALPHABET)] for byte in secrets.token_bytes(length))


def _connection_id() -> str:
    """Looks like an AWS connection id: 15 base64-ish characters and a trailing ``=``."""
    return _random_id(15) + "="


def _now_ms() -> int:
    return int(time.time() * 1000)


def _request_time(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def _json_response(status: int, payload: Any, *, error_type: str | None = None) -> web.Response:
    headers = CIMultiDict({"Content-Type": "application/json"})
    if error_type:
        headers["x-amzn-ErrorType"] = error_type
    return web.Response(status=status, body=json.dumps(payload).encode(), headers=headers)


# API Gateway's own errors are JSON {"message": ...}; these are the ones for requests it refuses before routing.
_URI_TOO_LONG = (414, "Request-URI Too Long")
_HEADERS_TOO_LARGE = (431, "Request Header Fields Too Large")
_BAD_REQUEST = (400, "Bad Request")


def _limit_error(request: web.BaseRequest) -> tuple[int, str] | None:
    """API Gateway's refusal of a request over its URL or header limits, or None."""
    target = request.raw_path
    if len(target) > MAX_URL_LENGTH:
        return _URI_TOO_LONG
    request_line = len(request.method) + len(target) + len("  HTTP/1.1")
    if request_line + sum(len(value) for value in request.headers.values()) > MAX_HEADER_BYTES:
        return _HEADERS_TOO_LARGE
    return None


def _parse_error(exc: BaseException | None) -> tuple[int, str]:
    """The status and message for a request aiohttp could not parse."""
    if isinstance(exc, LineTooLong):
        return _URI_TOO_LONG if exc.args[1] == _PARSER_MAX_LINE else _HEADERS_TOO_LARGE
    if exc is not None and "Too many headers" in str(exc):  # aiohttp raises a bare BadHttpMessage for it
        return _HEADERS_TOO_LARGE
    return _BAD_REQUEST


class _GatewayProtocol(web.RequestHandler):
    """aiohttp's HTTP protocol, answering requests it cannot parse in API Gateway's JSON, not plain text."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # aiohttp's own handler logs the offending line, which may hold a query string or a header value.
        if request.writer.output_size > 0:
            raise ConnectionError("the response has already started")
        if status >= 500:
            status, text = 500, "Internal server error"
            log.error("local gateway protocol error: %s", type(exc).__name__)
        else:
            status, text = _parse_error(exc)
            log.info("unparseable request refused: %d (%s)", status, type(exc).__name__)
        response = _json_response(status, {"message": text})
        response.force_close()
        return response


class _GatewayServer(web.Server):
    """aiohttp's low-level server speaking :class:`_GatewayProtocol`."""

    def __call__(self) -> web.RequestHandler:
        return _GatewayProtocol(self, loop=self._loop, **self._kwargs)


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


class FakeLambdaContext:
    """What the Lambda Python runtime passes as ``context`` (the attributes apps actually read)."""

    def __init__(
        self,
        function_name: str,
        *,
        timeout: float = 60.0,
        memory_limit_in_mb: int = 128,
        region: str | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        region = region or _region()
        self.aws_request_id: str = str(uuid.uuid4())
        self.function_name: str = function_name
        self.function_version: str = "$LATEST"
        # The real runtime reads this from AWS_LAMBDA_FUNCTION_MEMORY_SIZE, so it is a string there too.
        self.memory_limit_in_mb: str = str(memory_limit_in_mb)
        self.invoked_function_arn: str = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.log_group_name: str = f"/aws/lambda/{function_name}"
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        self.log_stream_name: str = f"{day}/[$LATEST]{uuid.uuid4().hex}"
        self.identity: Any = None
        self.client_context: Any = None
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _LockTimeout(Exception):
    """The app lock could not be taken in time (another call holds it)."""


@dataclass
class _Connection:
    connection_id: str
    ws: web.WebSocketResponse
    connected_at: int
    source_ip: str
    user_agent: str
    domain_name: str
    last_active_at: int = 0
    closing: bool = False
    close_code: int | None = None
    close_reason: str = ""
    done: asyncio.Event = field(default_factory=asyncio.Event)


# --------------------------------------------------------------------------------------------------
# The gateway
# --------------------------------------------------------------------------------------------------


class LocalGateway:
    """Serves a Chalice ``app`` like API Gateway + Lambda would, on ``host:port`` (0 = pick a free port)."""

    def __init__(
        self,
        app: Chalice,
        *,
        stage: str = "api",
        host: str = "127.0.0.1",
        port: int = 8000,
        lambda_stage: str = "dev",
        function_timeout: float = 60.0,
        integration_timeout: float = 29.0,
        memory_limit_in_mb: int = 128,
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
        self.function_timeout = function_timeout
        self.integration_timeout = integration_timeout
        self.memory_limit_in_mb = memory_limit_in_mb
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
        self._connections: dict[str, _Connection] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._schedule_tasks: list[asyncio.Task[Any]] = []
        self._ws_warned: set[str] = set()
        self._mgmt_re = re.compile(rf"^(?:/{re.escape(stage)})?/@connections/(?P<id>[^/]+)/?$")

    # ---- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def management_endpoint(self) -> str:
        """``endpoint_url`` for an ``apigatewaymanagementapi`` client (``{url}/{stage}``)."""
        return f"{self.url}/{self.stage}"

    def configure_websocket_api(self, session: Any | None = None) -> None:
        """Point Chalice's ``app.websocket_api`` (send / close / info) at this gateway's management API.

        Chalice only builds ``https://{domainName}/{stage}`` endpoints and ``configure()`` is a no-op once
        an endpoint is set, so this sets the endpoint attribute directly (it is private in Chalice 1.34)
        and drops any cached client. Call it after ``start()`` (the port must be known). ``session`` is a
        boto3 session (any credentials do locally); without one, a default session is created if the app
        has none.
        """
        api = self.app.websocket_api
        if session is not None:
            api.session = session
        elif api.session is None:
            import boto3

            api.session = boto3.session.Session(region_name=_region())
        api._endpoint = self.management_endpoint
        api._client = None

    def make_app(self) -> web.Application:
        """The gateway as an aiohttp application, to mount elsewhere (``start()`` serves it on its own)."""
        application = web.Application(client_max_size=MAX_REQUEST_BODY)
        application.router.add_route("*", r"/{tail:[\s\S]*}", self._handle)  # any path, newlines included
        return application

    @staticmethod
    def _make_request(
        message: Any, payload: Any, protocol: web.RequestHandler, writer: Any, task: asyncio.Task[None]
    ) -> web.BaseRequest:
        return web.BaseRequest(
            message, payload, protocol, writer, task, task.get_loop(), client_max_size=MAX_REQUEST_BODY
        )

    async def start(self) -> None:
        """Listen on ``host:port`` (``self.port`` then holds the real port) and start the schedules."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._executor = concurrent.futures.ThreadPoolExecutor(self._max_workers, thread_name_prefix="local-gateway")
        if self.workers is not None:
            await self.workers.start()  # no-op if already started (the stack starts them early)
        server = _GatewayServer(
            self._handle,
            request_factory=self._make_request,
            access_log=None,
            max_line_size=_PARSER_MAX_LINE,
            max_field_size=_PARSER_MAX_FIELD,
            max_headers=_PARSER_MAX_HEADERS,
        )
        self._runner = web.ServerRunner(server)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        for address in self._runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self.port = int(address[1])
                break
        log.info("local gateway listening on %s (stage %s)", self.url, self.stage)
        if (
            self.configure_websocket
            and self.workers is None  # workers point their own app object at the gateway
            and self.app.websocket_handlers
            and getattr(self.app.websocket_api, "_endpoint", None) is None
        ):
            # Chalice's websocket handler wrapper calls websocket_api.configure_from_api_id() on every
            # event, which raises without AWS_REGION or a session (Lambda always sets AWS_REGION).
            self.configure_websocket_api()
        if self.run_schedules:
            self._start_schedules()

    async def stop(self) -> None:
        """Stop the schedules, close every websocket (sending $disconnect), then stop listening."""
        for task in self._schedule_tasks:
            task.cancel()
        self._schedule_tasks.clear()
        connections = list(self._connections.values())
        for conn in connections:
            self._close_connection(conn, 1001, "Going away")
        if connections:
            await asyncio.wait([asyncio.ensure_future(c.done.wait()) for c in connections], timeout=5)
        if self._background:
            await asyncio.wait(list(self._background), timeout=5)
            for task in list(self._background):
                task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        if self.workers is not None:
            await self.workers.stop()

    # ---- calling the app ---------------------------------------------------------------------------

    def _context(self, name: str | None = None) -> FakeLambdaContext:
        function_name = f"{self.app.app_name}-{self.lambda_stage}" + (f"-{name}" if name else "")
        return FakeLambdaContext(
            function_name,
            timeout=self.function_timeout,
            memory_limit_in_mb=self.memory_limit_in_mb,
            account_id=self.account_id,
        )

    def _call_locked(self, handler: Handler, event: Any, context: Any) -> str:
        if not self._lock.acquire(timeout=self.function_timeout):
            raise _LockTimeout("the app lock was held for longer than the function timeout")
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

    def _ws_handler(self, route_key: str) -> Handler | None:
        """The deployed entry point for a websocket route: ``app.handler_map[name]``, exactly as Lambda gets it."""
        config = self.app.websocket_handlers.get(route_key)
        if config is None:
            return None
        handler = self.app.handler_map.get(config.name)
        if handler is None:
            return None
        if not isinstance(handler, BaseLambdaHandler) and route_key not in self._ws_warned:
            # Chalice 1.34 only wraps websocket handlers registered on the app: a Blueprint has no
            # websocket_api, so its handler is the bare function, called as f(event, context) on AWS.
            self._ws_warned.add(route_key)
            log.warning(
                "websocket handler %s (%s) is not wrapped by Chalice (Blueprint?); it will be called as "
                "handler(event_dict, context) here and on AWS",
                config.name,
                route_key,
            )
        return handler

    # ---- HTTP entry point --------------------------------------------------------------------------

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await self._route(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except Exception:
            log.exception("local gateway failed on %s %s", request.method, request.path)
            return _json_response(500, {"message": "Internal server error"})
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s %d %.1fms", request.method, request.path, status, elapsed)

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        refused = _limit_error(request)
        if refused is not None:
            return _json_response(refused[0], {"message": refused[1]})
        if self._is_websocket(request):
            return await self._handle_websocket(request)
        path = request.path
        found = self._mgmt_re.match(path)
        if found:
            return await self._handle_management(request, found.group("id"))
        found = _INVOKE_RE.match(path)
        if found and request.method == "POST":
            return await self._handle_invoke(request, unquote(found.group("name")))
        return await self._handle_rest(request)

    def _is_websocket(self, request: web.BaseRequest) -> bool:
        return (
            request.method == "GET"
            and request.headers.get("Upgrade", "").lower() == "websocket"
            and bool(self.app.websocket_handlers)
        )

    # ---- REST API ------------------------------------------------------------------------------------

    async def _read_body(self, request: web.BaseRequest) -> bytes | None:
        if request.content_length is not None and request.content_length > MAX_REQUEST_BODY:
            return None
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            return None

    async def _handle_rest(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await self._read_body(request)
        if body is None:
            return _json_response(413, {"message": "Request Too Long"})
        matched = match_route(self.app.routes, request.rel_url.raw_path, request.method)
        if matched is None:
            return _json_response(
                403, {"message": "Missing Authentication Token"}, error_type="MissingAuthenticationTokenException"
            )
        resource, params = matched
        methods = self.app.routes.get(resource, {})
        if request.method == "OPTIONS":
            preflight = self._cors_preflight(methods)
            if preflight is not None:
                return preflight
        event = self._rest_event(request, resource, params, body)
        request_id = event["requestContext"]["requestId"]
        try:
            payload = await self._call("", event, self._context(), timeout=self.integration_timeout)
        except (TimeoutError, _LockTimeout):
            return _json_response(504, {"message": "Endpoint request timed out"})
        except InvocationError as exc:
            log.error("Lambda handler failed for %s %s: %s", request.method, resource, exc.error_type)
            return _json_response(502, {"message": "Internal server error"})
        except Exception:
            log.exception("Lambda handler raised for %s %s", request.method, resource)
            return _json_response(502, {"message": "Internal server error"})
        return self._proxy_response(payload, request_id, event["requestContext"]["extendedRequestId"])

    def _cors_preflight(self, methods: Mapping[str, RouteEntry]) -> web.Response | None:
        """The mock OPTIONS integration Chalice's swagger adds to resources with CORS-enabled views."""
        with_cors = [(method, entry) for method, entry in methods.items() if entry.cors is not None]
        if not with_cors:
            return None
        headers = CIMultiDict({"Content-Type": "application/json"})
        headers["Access-Control-Allow-Methods"] = ",".join([m for m, _ in with_cors] + ["OPTIONS"])
        for name, value in with_cors[0][1].cors.get_access_control_headers().items():
            headers[name] = value
        return web.Response(status=200, body=b"", headers=headers)

    def _headers(self, request: web.BaseRequest) -> tuple[dict[str, str], dict[str, list[str]]]:
        """(last value per name, every value per name); names keep the client's spelling."""
        spelling: dict[str, str] = {}
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            key = spelling.setdefault(name.lower(), name)
            single[key] = value
            multi.setdefault(key, []).append(value)
        return single, multi

    def _add_forwarding_headers(
        self, request: web.BaseRequest, single: dict[str, str], multi: dict[str, list[str]]
    ) -> None:
        lowered = {k.lower(): k for k in single}
        remote = request.remote or "127.0.0.1"
        forwarded = lowered.get("x-forwarded-for")
        if forwarded:
            single[forwarded] = f"{single[forwarded]}, {remote}"
            multi[forwarded] = [single[forwarded]]
        else:
            single["X-Forwarded-For"] = remote
            multi["X-Forwarded-For"] = [remote]
        extra = {
            "X-Forwarded-Port": str(request.url.port or self.port),
            "X-Forwarded-Proto": request.scheme,
            "X-Amzn-Trace-Id": _trace_id(),
        }
        for name, value in extra.items():
            if name.lower() not in lowered:
                single[name] = value
                multi[name] = [value]

    @staticmethod
    def _query(request: web.BaseRequest) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in request.query.items():
            single[name] = value
            multi.setdefault(name, []).append(value)
        return (single or None), (multi or None)

    def _identity(self, request: web.BaseRequest) -> dict[str, Any]:
        return {
            "cognitoIdentityPoolId": None,
            "accountId": None,
            "cognitoIdentityId": None,
            "caller": None,
            "apiKey": None,
            "principalOrgId": None,
            "sourceIp": request.remote or "127.0.0.1",
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": None,
            "userAgent": request.headers.get("User-Agent", ""),
            "user": None,
            "accessKey": None,
        }

    def _encode_body(self, request: web.BaseRequest, body: bytes) -> tuple[str | None, bool]:
        if not body:
            return None, False
        if content_type_matches(request.headers.get("Content-Type", ""), self.app.api.binary_types):
            return base64.b64encode(body).decode("ascii"), True
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            return base64.b64encode(body).decode("ascii"), True

    def _rest_event(
        self, request: web.BaseRequest, resource: str, params: dict[str, str], body: bytes
    ) -> dict[str, Any]:
        headers, multi_headers = self._headers(request)
        self._add_forwarding_headers(request, headers, multi_headers)
        query, multi_query = self._query(request)
        encoded, is_b64 = self._encode_body(request, body)
        now = _now_ms()
        request_id = str(uuid.uuid4())
        path = request.path
        return {
            "resource": resource,
            "path": path,
            "httpMethod": request.method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": format(abs(hash(resource)) % 0xFFFFFF, "06x"),
                "resourcePath": resource,
                "httpMethod": request.method,
                "extendedRequestId": _random_id(15) + "=",
                "requestTime": _request_time(now),
                "path": f"/{self.stage}{path}",
                "accountId": self.account_id,
                "protocol": f"HTTP/{request.version.major}.{request.version.minor}",
                "stage": self.stage,
                "domainPrefix": request.host.split(".")[0].split(":")[0],
                "requestTimeEpoch": now,
                "requestId": request_id,
                "identity": self._identity(request),
                "domainName": request.headers.get("Host", f"{self.host}:{self.port}"),
                "apiId": "local",
            },
            "body": encoded,
            "isBase64Encoded": is_b64,
        }

    def _proxy_response(self, payload: str, request_id: str, extended_id: str) -> web.Response:
        """API Gateway's reading of a Lambda proxy response (JSON text); malformed or oversized → 502 as on AWS."""
        if len(payload) > MAX_SYNC_RESPONSE_PAYLOAD:  # ASCII: json.dumps escapes everything else
            log.error(
                "Lambda response of %d bytes is over Lambda's %d-byte limit", len(payload), MAX_SYNC_RESPONSE_PAYLOAD
            )
            return _json_response(502, {"message": "Internal server error"})
        try:
            result = json.loads(payload)
            status = _proxy_status(result)
            body = _proxy_body(result)
            headers = _proxy_headers(result)
        except (TypeError, ValueError) as exc:
            log.error("malformed Lambda proxy response: %s", exc)
            return _json_response(502, {"message": "Internal server error"})
        if "Content-Type" not in headers:
            headers["Content-Type"] = "application/json"  # API Gateway's default for proxy responses
        headers["x-amzn-RequestId"] = request_id
        headers["x-amz-apigw-id"] = extended_id
        headers["X-Amzn-Trace-Id"] = _trace_id()
        return web.Response(status=status, body=body, headers=headers)

    # ---- WebSocket API -------------------------------------------------------------------------------

    def _ws_request_context(
        self, conn_id: str, connected_at: int, domain_name: str, identity: dict[str, Any], route_key: str, kind: str
    ) -> dict[str, Any]:
        now = _now_ms()
        return {
            "routeKey": route_key,
            "eventType": kind,
            "extendedRequestId": _random_id(15) + "=",
            "requestTime": _request_time(now),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": connected_at,
            "requestTimeEpoch": now,
            "identity": identity,
            "requestId": _random_id(15) + "=",
            "domainName": domain_name,
            "connectionId": conn_id,
            "apiId": "local",
        }

    @staticmethod
    def _ws_identity(source_ip: str, user_agent: str) -> dict[str, Any]:
        return {"sourceIp": source_ip, "userAgent": user_agent}

    async def _handle_websocket(self, request: web.BaseRequest) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_WEBSOCKET_MESSAGE)
        if not ws.can_prepare(request).ok:
            return _json_response(400, {"message": "Bad websocket upgrade request"})
        conn_id = _connection_id()
        while conn_id in self._connections:
            conn_id = _connection_id()
        connected_at = _now_ms()
        source_ip = request.remote or "127.0.0.1"
        user_agent = request.headers.get("User-Agent", "")
        domain_name = request.headers.get("Host", f"{self.host}:{self.port}")
        identity = self._ws_identity(source_ip, user_agent)
        headers, multi_headers = self._headers(request)
        self._add_forwarding_headers(request, headers, multi_headers)
        query, multi_query = self._query(request)
        event: dict[str, Any] = {
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "requestContext": self._ws_request_context(
                conn_id, connected_at, domain_name, identity, "$connect", "CONNECT"
            ),
            "isBase64Encoded": False,
        }
        if query:  # AWS leaves both keys out when the upgrade URL has no query string
            event["queryStringParameters"] = query
            event["multiValueQueryStringParameters"] = multi_query
        handler = self._ws_handler("$connect")
        protocol: str | None = None
        if handler is not None:
            try:
                name = self._ws_name("$connect") or ""
                result = json.loads(await self._call(name, event, self._context(name)))
            except Exception:
                log.exception("$connect handler raised")
                return _json_response(500, {"message": "Internal server error"})
            status = _status_of(result)
            if not 200 <= status < 300:
                return web.Response(status=status, body=b"")
            protocol = _header_of(result, "Sec-WebSocket-Protocol")
        if protocol:
            ws = web.WebSocketResponse(max_msg_size=MAX_WEBSOCKET_MESSAGE, protocols=(protocol,))
        await ws.prepare(request)
        conn = _Connection(conn_id, ws, connected_at, source_ip, user_agent, domain_name, last_active_at=connected_at)
        self._connections[conn_id] = conn
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._ws_message(conn, message.data, False)
                elif message.type == WSMsgType.BINARY:
                    await self._ws_message(conn, base64.b64encode(message.data).decode("ascii"), True)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            await self._ws_disconnect(conn)
        return ws

    def _ws_name(self, route_key: str) -> str | None:
        config = self.app.websocket_handlers.get(route_key)
        return config.name if config is not None else None

    async def _ws_message(self, conn: _Connection, body: str, is_b64: bool) -> None:
        conn.last_active_at = _now_ms()
        context = self._ws_request_context(
            conn.connection_id,
            conn.connected_at,
            conn.domain_name,
            self._ws_identity(conn.source_ip, conn.user_agent),
            "$default",
            "MESSAGE",
        )
        context["messageId"] = _random_id(15) + "="
        event = {"requestContext": context, "body": body, "isBase64Encoded": is_b64}
        handler = self._ws_handler("$default")
        error: str | None = None
        if handler is None:
            error = "Forbidden"
        else:
            try:
                await self._call(self._ws_name("$default") or "", event, self._context(self._ws_name("$default")))
            except Exception:
                log.exception("$default handler raised")
                error = "Internal server error"
        if error and not conn.ws.closed and not conn.closing:
            payload = {"message": error, "connectionId": conn.connection_id, "requestId": context["requestId"]}
            await conn.ws.send_str(json.dumps(payload))

    async def _ws_disconnect(self, conn: _Connection) -> None:
        """Send $disconnect once: the connection is already gone (410) while the handler runs, as on AWS."""
        if self._connections.pop(conn.connection_id, None) is None:
            return
        try:
            code = conn.close_code if conn.close_code is not None else conn.ws.close_code
            reason = conn.close_reason
            if code is None or code == 1005:
                code, reason = 1005, reason or "Client-side close frame status not set"
            code = int(code)
            handler = self._ws_handler("$disconnect")
            if handler is None:
                return
            context = self._ws_request_context(
                conn.connection_id,
                conn.connected_at,
                conn.domain_name,
                self._ws_identity(conn.source_ip, conn.user_agent),
                "$disconnect",
                "DISCONNECT",
            )
            context["disconnectStatusCode"] = code
            context["disconnectReason"] = reason
            event = {
                "headers": {"Host": conn.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""},
                "multiValueHeaders": {
                    "Host": [conn.domain_name],
                    "x-api-key": [""],
                    "X-Forwarded-For": [""],
                    "x-restapi": [""],
                },
                "requestContext": context,
                "isBase64Encoded": False,
            }
            try:
                name = self._ws_name("$disconnect") or ""
                await asyncio.shield(self._call(name, event, self._context(name)))
            except Exception:
                log.exception("$disconnect handler raised")
        finally:
            conn.done.set()

    def _close_connection(self, conn: _Connection, code: int, reason: str) -> None:
        if conn.closing:
            return
        conn.closing = True
        conn.close_code = code
        conn.close_reason = reason
        task = asyncio.ensure_future(conn.ws.close(code=code, message=reason.encode()))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---- management API (no app lock) ---------------------------------------------------------------

    async def _handle_management(self, request: web.BaseRequest, conn_id: str) -> web.StreamResponse:
        conn = self._connections.get(conn_id)
        if request.method == "POST":
            data = await self._read_body(request)
            if data is None or len(data) > MAX_WEBSOCKET_MESSAGE:
                return _json_response(413, {"message": "Payload too large"}, error_type="PayloadTooLargeException")
        if conn is None or conn.closing or conn.ws.closed:
            return _json_response(410, {"message": "Gone"}, error_type="GoneException")
        if request.method == "POST":
            assert data is not None
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                await conn.ws.send_bytes(data)
            else:
                await conn.ws.send_str(text)
            return web.Response(status=200, body=b"", headers={"Content-Type": "application/json"})
        if request.method == "DELETE":
            self._close_connection(conn, 1000, "")
            return web.Response(status=204)
        if request.method == "GET":
            return _json_response(
                200,
                {
                    "connectedAt": _iso(conn.connected_at),
                    "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
                    "lastActiveAt": _iso(conn.last_active_at),
                },
            )
        return _json_response(403, {"message": "Missing Authentication Token"})

    # ---- Lambda Invoke ----------------------------------------------------------------------------------

    def _function_names(self) -> list[str]:
        names = [f.name for f in self.app.pure_lambda_functions]
        names += [s.name for s in self.app.event_sources]
        return names

    def resolve_function(self, function_name: str) -> str | None:
        """The Chalice name for ``function_name``: bare name, ``<app>-<stage>-<name>``, or an ARN of either."""
        name = function_name
        if ":function:" in name:
            name = name.split(":function:", 1)[1].split(":", 1)[0]
        elif name.count(":") == 1:  # "name:qualifier"
            name = name.split(":", 1)[0]
        known = self._function_names()
        if name in known:
            return name
        prefix = f"{self.app.app_name}-"
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            for candidate in sorted(known, key=len, reverse=True):
                suffix = f"-{candidate}"
                if rest.endswith(suffix) and len(rest) > len(suffix):
                    return candidate
        return None

    async def _handle_invoke(self, request: web.BaseRequest, function_name: str) -> web.StreamResponse:
        name = self.resolve_function(function_name)
        if name is None or self._handler_for(name) is None:
            arn = f"arn:aws:lambda:{_region()}:{self.account_id}:function:{function_name}"
            return _json_response(
                404,
                {"Type": "User", "message": f"Function not found: {arn}"},
                error_type="ResourceNotFoundException",
            )
        handler = self._handler_for(name)
        assert handler is not None
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        data = await self._read_body(request)
        if data is None or (invocation_type == "RequestResponse" and len(data) > MAX_SYNC_INVOKE_PAYLOAD):
            return _json_response(
                413,
                {
                    "Type": "User",
                    "message": f"Request must be smaller than {MAX_SYNC_INVOKE_PAYLOAD} bytes for the Invoke operation",
                },
                error_type="RequestTooLargeException",
            )
        try:
            event = json.loads(data) if data.strip() else {}
        except ValueError:
            return _json_response(
                400,
                {"Type": "User", "message": "Could not parse request body into json"},
                error_type="InvalidRequestContentException",
            )
        if invocation_type == "DryRun":
            return web.Response(status=204)
        context = self._context(name)
        if invocation_type == "Event":
            task = asyncio.ensure_future(self._run_event_invoke(name, event, context))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return web.Response(status=202, headers={"x-amzn-RequestId": context.aws_request_id})
        headers = CIMultiDict(
            {
                "Content-Type": "application/json",
                "X-Amz-Executed-Version": "$LATEST",
                "x-amzn-RequestId": context.aws_request_id,
            }
        )
        try:
            payload = await self._call(name, event, context)
        except InvocationError as exc:
            return self._function_error(headers, context, exc)
        except Exception as exc:
            error = InvocationError(type(exc).__name__, str(exc), traceback.format_tb(exc.__traceback__))
            return self._function_error(headers, context, error)
        if len(payload) > MAX_SYNC_RESPONSE_PAYLOAD:
            message = (
                f"Response payload size exceeded maximum allowed payload size ({MAX_SYNC_RESPONSE_PAYLOAD} bytes)."
            )
            return self._function_error(headers, context, InvocationError("Function.ResponseSizeTooLarge", message))
        return web.Response(status=200, body=payload.encode(), headers=headers)

    @staticmethod
    def _function_error(headers: CIMultiDict[str], context: FakeLambdaContext, error: InvocationError) -> web.Response:
        """Lambda's answer to a failed invocation: still 200, flagged by X-Amz-Function-Error."""
        headers["X-Amz-Function-Error"] = "Unhandled"
        body = {
            "errorMessage": error.message,
            "errorType": error.error_type,
            "requestId": context.aws_request_id,
            "stackTrace": error.stack_trace,
        }
        return web.Response(status=200, body=json.dumps(body).encode(), headers=headers)

    async def _run_event_invoke(self, name: str, event: Any, context: Any) -> None:
        try:
            await self._call(name, event, context)
        except Exception:
            log.exception("asynchronous invocation of %s failed", name)

    # ---- schedules --------------------------------------------------------------------------------------

    def _schedules(self) -> dict[str, ScheduledEventConfig]:
        return {s.name: s for s in self.app.event_sources if isinstance(s, ScheduledEventConfig)}

    def _scheduled_event(self, name: str) -> dict[str, Any]:
        region = _region()
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "resources": [
                f"arn:aws:events:{region}:{self.account_id}:rule/{self.app.app_name}-{self.lambda_stage}-{name}-event"
            ],
            "detail": {},
        }

    def _start_schedules(self) -> None:
        for name, config in self._schedules().items():
            period = parse_rate(config.schedule_expression)
            if period is None:
                expression = config.schedule_expression
                text = expression.to_string() if isinstance(expression, ScheduleExpression) else expression
                log.warning("schedule %s: %s is not emulated locally (only rate(...) is); skipped", name, text)
                continue
            self._schedule_tasks.append(asyncio.ensure_future(self._schedule_loop(name, period)))

    async def _schedule_loop(self, name: str, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            try:
                await self.run_schedule_async(name)
            except Exception:
                log.exception("scheduled function %s failed", name)

    async def run_schedule_async(self, name: str) -> Any:
        """Run the ``@app.schedule`` function ``name`` once (on the event loop's side)."""
        if name not in self._schedules():
            raise KeyError(f"no scheduled function named {name!r}")
        return json.loads(await self._call(name, self._scheduled_event(name), self._context(name)))

    def run_schedule(self, name: str) -> Any:
        """Run the ``@app.schedule`` function ``name`` once, now (in this thread through the app lock, or on
        a worker), and return its result.

        Call it from any thread but the gateway's event loop thread (use ``run_schedule_async`` there).
        """
        if self._loop_thread is not None and threading.get_ident() == self._loop_thread:
            raise RuntimeError("run_schedule() would block the gateway's loop; await run_schedule_async()")
        if name not in self._schedules():
            raise KeyError(f"no scheduled function named {name!r}")
        if self.workers is not None and self._loop is not None:
            return asyncio.run_coroutine_threadsafe(self.run_schedule_async(name), self._loop).result()
        handler = self._handler_for(name)
        assert handler is not None
        return json.loads(self._call_locked(handler, self._scheduled_event(name), self._context(name)))


def _status_of(result: Any) -> int:
    if isinstance(result, dict):
        try:
            return int(result.get("statusCode", 200))
        except (TypeError, ValueError):
            return 500
    return 200


def _proxy_status(result: Any) -> int:
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int | str):
        raise ValueError("no statusCode")
    status = int(result["statusCode"])
    if not 100 <= status <= 599:
        raise ValueError(f"statusCode {status} out of range")
    return status


def _proxy_body(result: dict[str, Any]) -> bytes:
    raw_body = result.get("body")
    if raw_body is None:
        return b""
    if not isinstance(raw_body, str):
        raise ValueError("body is not a string")
    if result.get("isBase64Encoded"):
        try:
            return base64.b64decode(raw_body, validate=True)
        except binascii.Error as exc:
            raise ValueError("body is not valid base64") from exc
    return raw_body.encode("utf-8")


def _proxy_headers(result: dict[str, Any]) -> CIMultiDict[str]:
    """``multiValueHeaders`` then ``headers``, merged as API Gateway does (a pair in both is sent once)."""
    multi = result.get("multiValueHeaders") or {}
    single = result.get("headers") or {}
    if not isinstance(multi, dict) or not isinstance(single, dict):
        raise ValueError("headers must be objects")
    headers = CIMultiDict[str]()
    for name, values in multi.items():
        if name.lower() in _HOP_BY_HOP:
            continue
        for value in values if isinstance(values, list) else [values]:
            headers.add(name, str(value))
    for name, value in single.items():
        if name.lower() in _HOP_BY_HOP or str(value) in headers.getall(name, []):
            continue
        headers.add(name, str(value))
    return headers


def _header_of(result: Any, name: str) -> str | None:
    if not isinstance(result, dict):
        return None
    for key, value in (result.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


# --------------------------------------------------------------------------------------------------
# Running in a background thread (tests, scripts)
# --------------------------------------------------------------------------------------------------


class GatewayThread:
    """A gateway running on its own event loop in a daemon thread."""

    def __init__(self, gateway: LocalGateway, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self.gateway = gateway
        self.loop = loop
        self.thread = thread

    @property
    def url(self) -> str:
        return self.gateway.url

    def stop(self, timeout: float = 10.0) -> None:
        if not self.loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(self.gateway.stop(), self.loop)
        try:
            future.result(timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout)


def run_in_thread(gateway: LocalGateway, timeout: float = 10.0) -> GatewayThread:
    """Start ``gateway`` on a new event loop in a daemon thread; returns once it is listening."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def _run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(gateway.start())
        except BaseException as exc:  # handed to the caller
            failure.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=_run, name="local-gateway", daemon=True)
    thread.start()
    if not ready.wait(timeout):
        raise TimeoutError("the local gateway did not start in time")
    if failure:
        raise failure[0]
    return GatewayThread(gateway, loop, thread)
