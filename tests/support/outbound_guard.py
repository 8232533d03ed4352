"""What the outbound-guard tests (tests/functional/cross_cutting/outbound_guard/) register and call:
a custom OAuth 2 integration on a chosen base URL, its configuration and an imported authentication, and
the app called as API Gateway calls it for a raw path."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from tests.conftest import TEST_SECRET_KEY
from tests.support.pizzly import PizzlyApi

REFUSED_BODY = {
    "error": {"type": "destination_not_allowed", "message": "The destination of this request is not allowed."}
}


def definition(base_url: str, token_url: str = "https://auth.partner.example/token", **auth: Any) -> dict[str, Any]:
    return {
        "name": "Partner",
        "auth": {
            "authType": "OAUTH2",
            "authorizationURL": "https://auth.partner.example/authorize",
            "tokenURL": token_url,
        }
        | auth,
        "request": {"baseURL": base_url, "headers": {"Authorization": "Bearer ${auth.accessToken}"}},
    }


def registered(
    api: PizzlyApi,
    integration: str,
    base_url: str,
    payload: dict[str, Any] | None = None,
    connect_params: dict[str, str] | None = None,
    **auth: Any,
) -> str:
    """A custom integration, a configuration and an imported authentication; the authentication's id."""
    put = api.put(f"/api/{integration}", definition(base_url, **auth))
    assert put.status in (200, 201), put.body
    setup_id = api.configuration(integration)["id"]
    extra = {"connect_params": connect_params} if connect_params is not None else {}
    return str(api.authentication(integration, setup_id, payload or {"accessToken": "token-1"}, **extra)["id"])


def secret_key() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{TEST_SECRET_KEY}:".encode()).decode()}


def route(method: str, raw_path: str, headers: dict[str, str], query: dict[str, str] | None = None) -> Any:
    """Call the app as API Gateway does for ``raw_path`` (greedy ``{proxy+}`` routes included); (status, body)."""
    from app import app
    from infra.local.gateway import FakeLambdaContext, match_route

    matched = match_route(app.routes, raw_path, method)
    assert matched is not None, raw_path
    resource, params = matched
    event = {
        "resource": resource,
        "path": raw_path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/api{raw_path}",
            "stage": "api",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": None,
        "isBase64Encoded": False,
    }
    answer = app(event, FakeLambdaContext("keyport-test-api"))
    body = answer["body"]
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return answer["statusCode"], json.loads(body) if body else None
