"""The Lambda ``Invoke`` API (``POST /2015-03-31/functions/{name}/invocations``) for the app's functions."""

from __future__ import annotations

import json
import re
import traceback
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from infra.local.gateway.core import (
    MAX_SYNC_INVOKE_PAYLOAD,
    MAX_SYNC_RESPONSE_PAYLOAD,
    GatewayCore,
    json_response,
    log,
)
from infra.local.lambda_context import FakeLambdaContext, aws_region
from infra.local.workers import InvocationError

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")


class LambdaInvokeApi(GatewayCore):
    """Lambda's Invoke for every function Chalice deploys besides the API's: ``RequestResponse``, ``Event``
    (run in the background, no retries) and ``DryRun``."""

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
            arn = f"arn:aws:lambda:{aws_region()}:{self.account_id}:function:{function_name}"
            return json_response(
                404,
                {"Type": "User", "message": f"Function not found: {arn}"},
                error_type="ResourceNotFoundException",
            )
        handler = self._handler_for(name)
        assert handler is not None
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        data = await self._read_body(request)
        if data is None or (invocation_type == "RequestResponse" and len(data) > MAX_SYNC_INVOKE_PAYLOAD):
            return json_response(
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
            return json_response(
                400,
                {"Type": "User", "message": "Could not parse request body into json"},
                error_type="InvalidRequestContentException",
            )
        if invocation_type == "DryRun":
            return web.Response(status=204)
        context = self._context(name)
        if invocation_type == "Event":
            self._spawn(self._run_event_invoke(name, event, context))
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
