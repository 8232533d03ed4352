"""The parts of an API Gateway event that the REST and the WebSocket API build alike from an HTTP request."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from infra.local.gateway.core import trace_id


def _headers(request: web.BaseRequest) -> tuple[dict[str, str], dict[str, list[str]]]:
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
    request: web.BaseRequest, port: int, single: dict[str, str], multi: dict[str, list[str]]
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
        "X-Forwarded-Port": str(request.url.port or port),
        "X-Forwarded-Proto": request.scheme,
        "X-Amzn-Trace-Id": trace_id(),
    }
    for name, value in extra.items():
        if name.lower() not in lowered:
            single[name] = value
            multi[name] = [value]


def event_headers(request: web.BaseRequest, port: int) -> tuple[dict[str, str], dict[str, list[str]]]:
    """``headers`` and ``multiValueHeaders``: the client's, plus the ``X-Forwarded-*`` and trace headers
    API Gateway adds (``port`` is the gateway's, for a request whose Host names none)."""
    single, multi = _headers(request)
    _add_forwarding_headers(request, port, single, multi)
    return single, multi


def event_query(request: web.BaseRequest) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """``queryStringParameters`` and ``multiValueQueryStringParameters`` (None when there is no query)."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in request.query.items():
        single[name] = value
        multi.setdefault(name, []).append(value)
    return (single or None), (multi or None)


def rest_identity(request: web.BaseRequest) -> dict[str, Any]:
    """A REST event's ``requestContext.identity`` for an unauthenticated caller."""
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
