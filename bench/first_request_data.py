"""The stored records and REST proxy events of the first-request benchmark: one first request per service.

:func:`first_requests` writes, through the app itself (``chalice.test.Client``, against whatever AWS the
environment names), what each service's first request reads, and returns the API Gateway event of that
request by service name.
"""

from __future__ import annotations

import base64
import json
from typing import Any

SECRET = "bench-secret-key"
GITHUB_TOKEN = "ghp_" + "b" * 36
OPERATOR = {"Authorization": "Basic " + base64.b64encode(f"{SECRET}:".encode()).decode()}


def rest_event(
    path: str,
    resource: str,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The REST proxy event API Gateway sends for a GET of ``path`` (route ``resource``)."""
    headers = {"Accept": "application/json", "Host": "bench.local", **(headers or OPERATOR)}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": params,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "GET",
            "path": f"/api{path}",
            "stage": "api",
            "requestId": "bench",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


class _Api:
    """Calls through the app that must succeed; the parsed JSON answer."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __call__(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
        data = json.dumps(body) if body is not None else ""
        sent = {**headers, "Content-Type": "application/json"}
        response = self.client.http.request(method, path, headers=sent, body=data)
        assert response.status_code in (200, 201), (method, path, response.status_code, response.body)
        return json.loads(response.body) if response.body else None


def _integrations(api: _Api) -> dict[str, Any]:
    credentials = {"credentials": {"clientId": "bench-client", "clientSecret": "bench-secret"}}
    setup = api("POST", "/api/github/configurations", OPERATOR, credentials)
    payload = {"accessToken": "a" * 40, "refreshToken": "r" * 40, "expiresIn": 3600}
    created = api(
        "POST", "/api/github/authentications", OPERATOR, {"setup_id": setup["configuration"]["id"], "payload": payload}
    )
    auth_id = created["authentication"]["id"]
    return rest_event(
        f"/api/github/authentications/{auth_id}",
        "/api/{integration}/authentications/{auth_id}",
        {"integration": "github", "auth_id": auth_id},
    )


def _broker(api: _Api) -> dict[str, Any]:
    customer = api("POST", "/admin/customers", OPERATOR, {"name": "Bench Co"})
    instance = api("POST", f"/admin/customers/{customer['id']}/instances", OPERATOR, {"name": "agent"})
    as_customer = {"Authorization": f"Bearer {customer['api_key']}"}
    credentials = {"access_token": "a" * 40, "expires_in": 86400}
    connection = api(
        "POST",
        f"/v1/customers/{customer['id']}/connections",
        as_customer,
        {"name": "admin@example.com", "provider": "gmail", "credentials": credentials},
    )
    api(
        "POST",
        f"/v1/customers/{customer['id']}/connections/{connection['id']}/grants",
        as_customer,
        {"capabilities": ["send_mail"], "instance_id": instance["id"]},
    )
    return rest_event(
        f"/internal/v1/instances/{instance['id']}/connections",
        "/internal/v1/instances/{instance_id}/connections",
        {"instance_id": instance["id"]},
        {"Authorization": f"Bearer {instance['proxy_key']}"},
        {"provider": "gmail", "capability": "send_mail"},
    )


def _entities(api: _Api) -> dict[str, Any]:
    login = {"login": "bench", "password": "correct-horse-battery"}
    api("POST", "/admin/platform/users", OPERATOR, {**login, "group": "g"})
    token = api("POST", "/api/v1/auth/token", {}, login)["token"]
    as_user = {"Authorization": f"Bearer {token}"}
    for n in range(3):
        api("POST", "/api/v1/things", as_user, {"name": f"thing {n}", "size": n})
    return rest_event("/api/v1/things", "/api/v1/{store}", {"store": "things"}, as_user)


def _repotags(api: _Api) -> dict[str, Any]:
    as_github = {"X-Github-Token": GITHUB_TOKEN}
    for name in ("python", "aws"):
        api("POST", "/api/v1/tag", as_github, {"name": name})
    return rest_event("/api/v1/tags", "/api/v1/tags", None, as_github)


def _publishing(api: _Api) -> dict[str, Any]:
    user = api("POST", "/admin/autotune/users", OPERATOR, {"email": "bench@example.com", "name": "Bench"})
    return rest_event("/projects", "/projects", None, {"Authorization": f"API-KEY auth={user['api_key']}"})


SERVICES = {
    "integrations": ("GET /api/github/authentications/{id}", _integrations, 1.15),
    "broker": ("GET /internal/v1/instances/{id}/connections", _broker, 1.25),
    "entities": ("GET /api/v1/{store}", _entities, 1.25),
    "repotags": ("GET /api/v1/tags", _repotags, 1.25),
    "publishing": ("GET /projects", _publishing, 1.25),
}


def first_requests() -> dict[str, dict[str, Any]]:
    """Store what each service's first request reads; the events of those requests, by service."""
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        api = _Api(client)
        return {name: make(api) for name, (_label, make, _goal) in SERVICES.items()}
