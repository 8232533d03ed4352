"""What the proxy tests (tests/functional/integrations/proxy/) send and read: a call as the greedy proxy
route hands it to ``chalicelib.integrations.proxy.forward``, the echo provider's answer, the stored payload,
and the provider's client credentials."""

from __future__ import annotations

import json
from typing import Any

from tests.support.connect_flow import CLIENT_ID, CLIENT_SECRET, call

OAUTH2_CREDENTIALS = {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}


def stored_payload(client: Any, integration: str, auth_id: str) -> dict[str, Any]:
    status, body = call(client, "GET", f"/api/{integration}/authentications/{auth_id}")
    assert status == 200, body
    payload: dict[str, Any] = body["payload"]
    return payload


def forward(
    integration: str,
    auth_id: str,
    tail: str = "",
    *,
    method: str = "GET",
    query: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> Any:
    """What the greedy proxy route does with a call (headers lower-cased, as the route passes them)."""
    from chalicelib.integrations import proxy

    call = proxy.ProxyRequest(
        method=method,
        tail=tail,
        query=query or [],
        headers={"pizzly-auth-id": auth_id, **{k.lower(): v for k, v in (headers or {}).items()}},
        body=body,
    )
    return proxy.forward(integration, call)


def echoed(response: Any) -> dict[str, Any]:
    assert response.status == 200, response.body
    echo: dict[str, Any] = json.loads(response.body)
    return echo
