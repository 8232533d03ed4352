"""The gateway itself: one aiohttp port for every emulated API, its lifecycle, and running it in a thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from typing import Any
from urllib.parse import unquote

import boto3
from aiohttp import web
from aiohttp.http_exceptions import LineTooLong

from infra.local.gateway.core import (
    MAX_HEADER_BYTES,
    MAX_REQUEST_BODY,
    MAX_URL_LENGTH,
    json_response,
    log,
)
from infra.local.gateway.invoke import INVOKE_PATH, LambdaInvokeApi
from infra.local.gateway.rest import RestApi
from infra.local.gateway.schedules import ScheduleRunner
from infra.local.gateway.websocket import WebSocketApi
from infra.local.lambda_context import aws_region

# What aiohttp's parser itself accepts: well above API Gateway's limits (core.py), so that the gateway measures them and
# answers in JSON. Beyond these the parser gives up and the protocol below answers (also in JSON).
_PARSER_MAX_LINE = 64 * 1024
_PARSER_MAX_FIELD = 64 * 1024 - 1  # differs from _PARSER_MAX_LINE: tells a long request line from a long header
_PARSER_MAX_HEADERS = MAX_HEADER_BYTES // 4

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
        response = json_response(status, {"message": text})
        response.force_close()
        return response


class _GatewayServer(web.Server):
    """aiohttp's low-level server speaking :class:`_GatewayProtocol`."""

    def __call__(self) -> web.RequestHandler:
        return _GatewayProtocol(self, loop=self._loop, **self._kwargs)


class LocalGateway(RestApi, WebSocketApi, LambdaInvokeApi, ScheduleRunner):
    """Serves a Chalice ``app`` like API Gateway + Lambda would, on ``host:port`` (0 = pick a free port).

    The constructor's options are :class:`~infra.local.gateway.core.GatewayCore`'s.
    """

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
            api.session = boto3.session.Session(region_name=aws_region())
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
        self._stop_schedules()
        await self._close_all_connections()
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
            return json_response(500, {"message": "Internal server error"})
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s %d %.1fms", request.method, request.path, status, elapsed)

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        refused = _limit_error(request)
        if refused is not None:
            return json_response(refused[0], {"message": refused[1]})
        if self._is_websocket(request):
            return await self._handle_websocket(request)
        path = request.path
        found = self._mgmt_re.match(path)
        if found:
            return await self._handle_management(request, found.group("id"))
        found = INVOKE_PATH.match(path)
        if found and request.method == "POST":
            return await self._handle_invoke(request, unquote(found.group("name")))
        return await self._handle_rest(request)


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
