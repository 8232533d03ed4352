"""The REST API: an HTTP request becomes a Lambda proxy event (payload format 1.0), the handler's answer a response."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from chalice.app import RouteEntry
from multidict import CIMultiDict

from infra.local.gateway.core import (
    MAX_SYNC_RESPONSE_PAYLOAD,
    GatewayCore,
    LockTimeout,
    json_response,
    log,
    now_ms,
    random_id,
    request_time,
    trace_id,
)
from infra.local.gateway.events import event_headers, event_query, rest_identity
from infra.local.gateway.routing import content_type_matches, match_route
from infra.local.workers import InvocationError

_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}


class RestApi(GatewayCore):
    """API Gateway REST API with Lambda proxy integrations, one per Chalice route."""

    async def _handle_rest(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await self._read_body(request)
        if body is None:
            return json_response(413, {"message": "Request Too Long"})
        matched = match_route(self.app.routes, request.rel_url.raw_path, request.method)
        if matched is None:
            return json_response(
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
        except (TimeoutError, LockTimeout):
            return json_response(504, {"message": "Endpoint request timed out"})
        except InvocationError as exc:
            log.error("Lambda handler failed for %s %s: %s", request.method, resource, exc.error_type)
            return json_response(502, {"message": "Internal server error"})
        except Exception:
            log.exception("Lambda handler raised for %s %s", request.method, resource)
            return json_response(502, {"message": "Internal server error"})
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
        headers, multi_headers = event_headers(request, self.port)
        query, multi_query = event_query(request)
        encoded, is_b64 = self._encode_body(request, body)
        now = now_ms()
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
                "extendedRequestId": random_id(15) + "=",
                "requestTime": request_time(now),
                "path": f"/{self.stage}{path}",
                "accountId": self.account_id,
                "protocol": f"HTTP/{request.version.major}.{request.version.minor}",
                "stage": self.stage,
                "domainPrefix": request.host.split(".")[0].split(":")[0],
                "requestTimeEpoch": now,
                "requestId": request_id,
                "identity": rest_identity(request),
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
            return json_response(502, {"message": "Internal server error"})
        try:
            result = json.loads(payload)
            status = _proxy_status(result)
            body = _proxy_body(result)
            headers = _proxy_headers(result)
        except (TypeError, ValueError) as exc:
            log.error("malformed Lambda proxy response: %s", exc)
            return json_response(502, {"message": "Internal server error"})
        if "Content-Type" not in headers:
            headers["Content-Type"] = "application/json"  # API Gateway's default for proxy responses
        headers["x-amzn-RequestId"] = request_id
        headers["x-amz-apigw-id"] = extended_id
        headers["X-Amzn-Trace-Id"] = trace_id()
        return web.Response(status=status, body=body, headers=headers)


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
