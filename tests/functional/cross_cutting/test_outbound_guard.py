"""The outbound guard through the integrations API: what operators may store, where the proxy, the connect
flow and refreshes may connect, and proxy paths that try to leave the integration's base path.

Outside hosts are real local servers on 127.0.0.1 (loopback is allowed in the tests, as on the local stack);
names that point inside are served by a resolver injected into the process's guard (a DNS server's part),
never by patching ``requests``.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.support.connect_flow import callback_message
from tests.support.http_peer import HttpPeer
from tests.support.moto_stack import Models, connect_flow_models, reread_settings
from tests.support.pizzly import PizzlyApi, stored_authentication

INSIDE = {
    "api.internal.test": ["10.0.0.9"],
    "token.internal.test": ["169.254.169.254"],
    "mapped.internal.test": ["::ffff:192.168.1.20"],
    "mixed.internal.test": ["93.184.216.34", "172.16.0.3"],
}
REFUSED_BODY = {
    "error": {"type": "destination_not_allowed", "message": "The destination of this request is not allowed."}
}


@pytest.fixture(scope="module")
def integrations_models() -> Models:
    """The REST API's tables and the connect flow's OAuth states."""
    return connect_flow_models


@pytest.fixture
def aws_env(integrations_env: None) -> None:
    """Overrides the root fixture (which the root ``client`` fixture uses): the module's AWS, emptied."""


@pytest.fixture
def env() -> Iterator[Callable[..., None]]:
    """Set environment variables for one test; the settings are re-read, and restored after."""
    saved: dict[str, str | None] = {}

    def set_env(**values: str) -> None:
        for name, value in values.items():
            saved.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        reread_settings()

    yield set_env
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    reread_settings()


@pytest.fixture(autouse=True)
def dns() -> Iterator[dict[str, list[str]]]:
    """Names that resolve inside (``INSIDE``), served to the process's guard; other names as the system says."""
    from chalicelib import outbound

    guard = outbound.default_guard()
    table = dict(INSIDE)

    def resolve(host: str, port: int) -> list[str]:
        return table[host] if host in table else outbound.system_resolver(host, port)

    before, guard.resolver = guard.resolver, resolve
    yield table
    guard.resolver = before


@pytest.fixture
def peer() -> Iterator[HttpPeer]:
    with HttpPeer() as running:
        yield running


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


# --- custom integrations: refused when stored ------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("baseURL", "https://10.0.0.1/api/"),
        ("baseURL", "https://169.254.169.254/latest/"),
        ("baseURL", "https://[::ffff:10.0.0.1]/api/"),
        ("baseURL", "https://[fe80::1]/api/"),
        ("baseURL", "https://167772161/api/"),
        ("baseURL", "https://0xa9.0xfe.0xa9.0xfe/"),
        ("tokenURL", "https://192.168.1.1/token"),
        ("tokenURL", "https://100.64.0.1/token"),
        ("tokenURL", "https://0.0.0.0/token"),
        ("authorizationURL", "https://[fc00::1]/authorize"),
        ("authorizationURL", "https://172.16.0.1/authorize"),
    ],
)
def test_a_custom_integration_naming_an_inside_address_is_refused_and_not_stored(
    api: PizzlyApi, field: str, url: str
) -> None:
    body = definition("https://api.partner.example/v1/")
    (body["request"] if field == "baseURL" else body["auth"])[field] = url

    answer = api.put("/api/partner", body)

    assert answer.status == 400
    kind, message = answer.error()
    assert kind == "invalid_integration" and field in message and "address" in message
    assert api.get("/api/partner").status == 404


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/token", "https://127.0.0.1/token", "https://2130706433/token", "https://localhost/token"],
)
def test_loopback_is_refused_when_not_explicitly_allowed(api: PizzlyApi, env: Callable[..., None], url: str) -> None:
    env(ALLOW_HTTP_LOOPBACK="0")

    answer = api.put("/api/partner", definition("https://api.partner.example/v1/", token_url=url))

    assert answer.status == 400 and answer.error()[0] == "invalid_integration"


def test_an_update_naming_an_inside_address_leaves_the_stored_integration_as_it_was(api: PizzlyApi) -> None:
    assert api.put("/api/partner", definition("https://api.partner.example/v1/")).status == 201

    answer = api.put("/api/partner", definition("https://[::ffff:169.254.169.254]/"))

    assert answer.status == 400
    assert api.get("/api/partner").body["request"]["baseURL"] == "https://api.partner.example/v1/"


# --- the proxy: refused when it would connect -------------------------------------------------------------


@pytest.mark.parametrize("host", ["api.internal.test", "mapped.internal.test", "mixed.internal.test"])
def test_the_proxy_refuses_a_name_that_resolves_inside_and_says_only_that(api: PizzlyApi, host: str) -> None:
    auth_id = registered(api, "partner", f"https://{host}/v1/")

    answer = api.get("/proxy/partner", headers={"Pizzly-Auth-Id": auth_id})

    assert answer.status == 403
    assert answer.body == REFUSED_BODY


def test_the_proxy_refuses_an_inside_address_stored_before_urls_were_checked(api: PizzlyApi) -> None:
    from chalicelib import catalog
    from chalicelib.http import now_ms
    from chalicelib.integrations import repository

    auth_id = registered(api, "partner", "https://api.partner.example/v1/")
    repository.put_custom_integration("partner", definition("https://10.1.2.3/v1/"), now_ms())
    catalog.forget_custom()

    answer = api.get("/proxy/partner", headers={"Pizzly-Auth-Id": auth_id})

    assert answer.status == 403 and answer.body == REFUSED_BODY


def test_the_proxy_stops_calling_localhost_once_loopback_is_no_longer_allowed(
    api: PizzlyApi, peer: HttpPeer, env: Callable[..., None]
) -> None:
    auth_id = registered(api, "partner", f"http://localhost:{peer.port}/v1/")
    assert api.get("/proxy/partner", headers={"Pizzly-Auth-Id": auth_id}).status == 200
    env(ALLOW_HTTP_LOOPBACK="0")

    answer = api.get("/proxy/partner", headers={"Pizzly-Auth-Id": auth_id})

    assert answer.status == 403 and answer.body == REFUSED_BODY
    assert [seen.path for seen in peer.requests] == ["/v1/"]


# --- the proxy: paths stay inside the base path -----------------------------------------------------------

CLIMBING = [
    "..%2F..%2Fetc%2Fpasswd", "../../etc/passwd", "..", "%2e%2e/admin", "%2E%2E%2Fadmin", "..%5Cadmin",
    "..%5c..%5cadmin", "v1/..%2F..%2F..%2Fadmin", "a/b/../../../admin", "%252e%252e%252fadmin", "..;/admin",
    ".%2e/admin", "%2e./admin", "./../admin", "a/..%2F..%2Fadmin",
]  # fmt: skip


@pytest.mark.parametrize("tail", CLIMBING)
def test_a_proxy_path_that_climbs_out_of_the_base_path_is_refused(api: PizzlyApi, peer: HttpPeer, tail: str) -> None:
    auth_id = registered(api, "partner", f"http://127.0.0.1:{peer.port}/base/")

    status, body = route("GET", f"/proxy/partner/{tail}", {**secret_key(), "Pizzly-Auth-Id": auth_id})

    assert status == 400
    assert body["error"]["type"] == "invalid_proxy_path"
    assert peer.requests == []


def test_a_climbing_path_is_refused_with_the_publishable_key_too(
    api: PizzlyApi, peer: HttpPeer, env: Callable[..., None]
) -> None:
    auth_id = registered(api, "partner", f"http://127.0.0.1:{peer.port}/base/")
    env(PUBLISHABLE_KEY="pk-test-0123456789")
    headers = {"Pizzly-Auth-Id": auth_id}

    status, body = route("GET", "/proxy/partner/..%2F..%2Fetc", headers, {"pizzly_pkey": "pk-test-0123456789"})
    fine, _ = route("GET", "/proxy/partner/items", headers, {"pizzly_pkey": "pk-test-0123456789"})

    assert (status, body["error"]["type"]) == (400, "invalid_proxy_path")
    assert fine == 200 and [seen.path for seen in peer.requests] == ["/base/items"]


@pytest.mark.parametrize(
    ("tail", "received"),
    [
        ("items", "/base/items"),
        ("v1/items/42", "/base/v1/items/42"),
        ("a/../b", "/base/b"),
        ("files/report..2024.csv", "/base/files/report..2024.csv"),
        ("search/100%25", "/base/search/100%25"),
        ("dots/.../x", "/base/dots/.../x"),
    ],
)
def test_paths_inside_the_base_path_still_reach_it(api: PizzlyApi, peer: HttpPeer, tail: str, received: str) -> None:
    auth_id = registered(api, "partner", f"http://127.0.0.1:{peer.port}/base/")

    status, body = route("GET", f"/proxy/partner/{tail}", {**secret_key(), "Pizzly-Auth-Id": auth_id})

    assert status == 200, body
    assert body["path"] == received


def test_an_encoded_slash_that_stays_inside_is_passed_as_encoded(api: PizzlyApi, peer: HttpPeer) -> None:
    from chalicelib.integrations import proxy

    auth_id = registered(api, "partner", f"http://127.0.0.1:{peer.port}/base/")
    call = proxy.ProxyRequest("GET", "projects/group%2Fproject/issues", [], {"pizzly-auth-id": auth_id}, b"")

    answer = proxy.forward("partner", call)

    assert answer.status == 200 and json.loads(answer.body)["path"] == "/base/projects/group%2Fproject/issues"


# --- imported connect parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"shop": "127.0.0.1:8603/x?"},
        {"shop": "evil.example#"},
        {"shop": "a/../../admin"},
        {"shop": ""},
        {"shop": "x" * 101},
        {"1shop": "acme"},
        {"shop": "acme", "host": "10.0.0.1"},
    ],
)
def test_imported_connect_params_follow_the_connect_flows_rules(api: PizzlyApi, params: dict[str, str]) -> None:
    put = api.put("/api/shop", definition("https://${connectParams.host}/admin/api/"))
    assert put.status == 201, put.body
    setup_id = api.configuration("shop")["id"]

    answer = api.post(
        "/api/shop/authentications",
        {"setup_id": setup_id, "payload": {"accessToken": "t"}, "connect_params": params},
    )

    assert answer.status == 400 and answer.error()[0] == "invalid_connect_params"
    assert api.get("/api/shop/authentications").body["data"] == []


def test_connect_params_that_make_a_url_name_an_inside_address_are_refused_on_update(api: PizzlyApi) -> None:
    auth_id = registered(
        api, "shop", "https://${connectParams.host}/admin/api/", connect_params={"host": "shop.example"}
    )
    before = api.get(f"/api/shop/authentications/{auth_id}").body

    answer = api.request(
        "PUT",
        f"/api/shop/authentications/{auth_id}",
        {"payload": {"accessToken": "t2"}, "connect_params": {"host": "169.254.169.254"}},
    )

    assert answer.status == 400
    assert "request.baseURL" in answer.error()[1]
    assert api.get(f"/api/shop/authentications/{auth_id}").body == before


def test_valid_imported_connect_params_are_stored_and_used(api: PizzlyApi, peer: HttpPeer) -> None:
    base = f"http://127.0.0.1:{peer.port}/shops/${{connectParams.shop}}/"
    auth_id = registered(api, "shop", base, connect_params={"shop": "acme-store.eu"})

    answer = api.get("/proxy/shop", headers={"Pizzly-Auth-Id": auth_id})

    assert answer.status == 200 and answer.body["path"] == "/shops/acme-store.eu/"


def test_connect_params_stored_before_they_were_checked_are_refused_by_the_proxy(
    api: PizzlyApi, peer: HttpPeer
) -> None:
    auth_id = registered(api, "shop", f"http://127.0.0.1:{peer.port}/shops/${{connectParams.shop}}/")
    item = stored_authentication(auth_id)
    item.connect_params = {"shop": "../../admin"}
    item.save()

    answer = api.get("/proxy/shop", headers={"Pizzly-Auth-Id": auth_id})

    assert answer.status == 400 and answer.error()[0] == "invalid_connect_params"
    assert peer.requests == []


# --- the connect flow and refreshes --------------------------------------------------------------------------


def client_credentials_partner(api: PizzlyApi, token_url: str) -> None:
    """'partner': a client-credentials integration getting its tokens at ``token_url``, and its configuration."""
    put = api.put(
        "/api/partner", definition("https://api.partner.example/v1/", token_url, grantType="client_credentials")
    )
    assert put.status == 201, put.body
    api.configuration("partner")


def page_error(response: Any) -> dict[str, Any]:
    message = callback_message(response)
    assert message["eventType"] == "AUTHORIZATION_FAILED", message
    error: dict[str, Any] = message["data"]["error"]
    return error


def test_a_client_credentials_connection_to_a_token_url_that_resolves_inside_fails(client: Any, api: PizzlyApi) -> None:
    client_credentials_partner(api, "https://token.internal.test/token")

    page = client.http.get("/auth/partner")

    assert page.status_code == 403
    error = page_error(page)
    assert error["type"] == "destination_not_allowed"
    assert "169.254" not in error["message"] and "internal.test" not in error["message"]
    assert api.get("/api/partner/authentications").body["data"] == []


def test_the_code_exchange_with_a_token_url_that_resolves_inside_fails(client: Any, api: PizzlyApi) -> None:
    assert api.put(
        "/api/partner", definition("https://api.partner.example/v1/", "https://token.internal.test/t")
    ).status
    api.configuration("partner")
    started = client.http.get("/auth/partner")
    assert started.status_code == 302
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]

    page = client.http.get("/auth/callback?" + urlencode({"state": state, "code": "code-1"}))

    assert page.status_code == 403 and page_error(page)["type"] == "destination_not_allowed"
    assert api.get("/api/partner/authentications").body["data"] == []


def test_connect_params_that_make_the_token_url_an_inside_address_are_refused(client: Any, api: PizzlyApi) -> None:
    client_credentials_partner(api, "https://${connectParams.host}/token")

    page = client.http.get("/auth/partner?" + urlencode({"params[host]": "10.0.0.1"}))

    assert page.status_code == 403 and page_error(page)["type"] == "destination_not_allowed"


def test_a_refresh_at_a_token_url_that_resolves_inside_fails_and_backs_off(api: PizzlyApi) -> None:
    payload = {"accessToken": "access-0", "refreshToken": "refresh-0", "expiresIn": 3600}
    auth_id = registered(
        api, "partner", "https://api.partner.example/v1/", payload, token_url="https://token.internal.test/t"
    )

    answer = api.post(f"/api/partner/authentications/{auth_id}/refresh")

    assert answer.status == 422
    kind, message = answer.error()
    assert kind == "token_refresh_failed" and "destination_not_allowed" in message and "169.254" not in message
    stored = api.get(f"/api/partner/authentications/{auth_id}").body
    assert stored["payload"]["accessToken"] == "access-0"
    assert stored["refresh"]["last_error"]["error"] == "destination_not_allowed"
    assert stored["refresh"]["needs_reconnect"] is False and stored["refresh"]["next_attempt_at"] is not None
