"""The small Chalice app the local gateway's tests serve (tests/unit/local_gateway/), and what its handlers saw."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Rate, Response
from chalice.app import Cron, WebsocketEvent

from infra.local.gateway import GatewayThread

app = Chalice(app_name="gwtest", configure_logs=False)
app.api.binary_types = [*app.api.binary_types, "application/x-custom-bin"]
_TEXT_TYPES = ["application/json", "text/plain", "application/octet-stream", "application/x-custom-bin"]


class Recorder:
    """What the handlers saw, shared between the gateway's worker threads and the tests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: dict[str, list[Any]] = {}
        self.active = 0
        self.max_active = 0

    def add(self, kind: str, item: Any) -> None:
        with self.lock:
            self.events.setdefault(kind, []).append(item)

    def get(self, kind: str) -> list[Any]:
        with self.lock:
            return list(self.events.get(kind, []))


rec = Recorder()


@app.route("/")
def index() -> dict[str, str]:
    return {"hello": "world"}


@app.route("/items/{id}")
def item(id: str) -> dict[str, str]:
    return {"route": "variable", "id": id}


@app.route("/items/special")
def special() -> dict[str, str]:
    return {"route": "static"}


@app.route("/jobs/{proxy+}", methods=["DELETE"])
def jobs_fallback() -> dict[str, str]:
    assert app.current_request is not None
    return {"route": "greedy", "proxy": (app.current_request.uri_params or {})["proxy"]}


@app.route("/jobs/reboot", methods=["GET"])
def jobs_reboot() -> dict[str, str]:
    return {"route": "static"}


@app.route("/proxy/{name}/{proxy+}", methods=["GET", "POST"])
def proxy(name: str) -> dict[str, Any]:
    # Chalice's view-arg regex ({\w+}) skips "{proxy+}", so the greedy value only reaches the view
    # through uri_params.
    request = app.current_request
    assert request is not None
    return {"name": name, "uri_params": request.uri_params, "resource": request.to_original_event()["resource"]}


@app.route("/event", methods=["GET", "POST", "PUT"], content_types=_TEXT_TYPES)
def event_view() -> dict[str, Any]:
    request = app.current_request
    assert request is not None
    return request.to_original_event()


@app.route("/echo", methods=["POST"], content_types=_TEXT_TYPES)
def echo() -> Response:
    request = app.current_request
    assert request is not None
    content_type = request.headers.get("content-type", "application/octet-stream")
    return Response(body=request.raw_body, headers={"Content-Type": content_type}, status_code=201)


@app.route("/cookies")
def cookies() -> Response:
    return Response(body="ok", headers={"Set-Cookie": ["a=1; Path=/", "b=2; Path=/"], "Content-Type": "text/plain"})


@app.route("/cors", methods=["GET", "PUT"], cors=True)
def cors_view() -> dict[str, bool]:
    return {"cors": True}


@app.route("/context")
def context_view() -> dict[str, Any]:
    ctx = app.lambda_context
    return {
        "aws_request_id": ctx.aws_request_id,
        "function_name": ctx.function_name,
        "memory_limit_in_mb": ctx.memory_limit_in_mb,
        "invoked_function_arn": ctx.invoked_function_arn,
        "log_group_name": ctx.log_group_name,
        "log_stream_name": ctx.log_stream_name,
        "remaining": ctx.get_remaining_time_in_millis(),
    }


@app.route("/slow")
def slow() -> dict[str, int]:
    with rec.lock:
        rec.active += 1
        rec.max_active = max(rec.max_active, rec.active)
    time.sleep(0.05)
    with rec.lock:
        rec.active -= 1
    return {"ok": 1}


@app.on_ws_connect()
def ws_connect(event: WebsocketEvent) -> dict[str, int] | None:
    raw = event.to_dict()
    rec.add("connect", raw)
    if (raw.get("queryStringParameters") or {}).get("deny"):
        return {"statusCode": 403}
    return None


@app.on_ws_message()
def ws_message(event: WebsocketEvent) -> None:
    raw = event.to_dict()
    rec.add("message", raw)
    cid = event.connection_id
    if raw.get("isBase64Encoded"):
        app.websocket_api.send(cid, base64.b64decode(event.body))  # type: ignore[arg-type]
    elif event.body == "close-me":
        app.websocket_api.close(cid)
    elif event.body == "info":
        info = app.websocket_api.info(cid)
        app.websocket_api.send(
            cid, json.dumps({"sourceIp": info["Identity"]["SourceIp"], "connectedAt": info["ConnectedAt"].isoformat()})
        )
    elif event.body == "boom":
        raise RuntimeError("boom")
    else:
        app.websocket_api.send(cid, "echo:" + event.body)


@app.on_ws_disconnect()
def ws_disconnect(event: WebsocketEvent) -> None:
    rec.add("disconnect", event.to_dict())


@app.lambda_function(name="worker")
def worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    remaining_ms, memory = context.get_remaining_time_in_millis(), context.memory_limit_in_mb
    rec.add(
        "worker",
        {"event": event, "function_name": context.function_name, "remaining_ms": remaining_ms, "memory": memory},
    )
    return {"ok": True, "echo": event}


@app.lambda_function(name="explode")
def explode(event: dict[str, Any], context: Any) -> None:
    raise ValueError("kaboom")


@app.schedule(Rate(1, unit=Rate.MINUTES), name="tick")
def tick(event: Any) -> dict[str, str]:
    rec.add("tick", event.to_dict())
    return {"ticked": event.detail_type}


@app.schedule(Cron(0, 12, "*", "*", "?", "*"), name="noon")
def noon(event: Any) -> None:
    rec.add("noon", event.to_dict())


CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def wait_until(predicate: Callable[[], Any], timeout: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def ws_url(gw: GatewayThread, path: str) -> str:
    return gw.url.replace("http://", "ws://") + path


def for_connection(kind: str, cid: str) -> list[Any]:
    return [e for e in rec.get(kind) if e["requestContext"]["connectionId"] == cid]
