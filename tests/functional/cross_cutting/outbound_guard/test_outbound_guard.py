"""The outbound guard through the integrations API: what operators may store, and where the proxy, the
connect flow and refreshes may connect. Proxy paths and connect parameters that would lead a URL elsewhere
are in test_outbound_guard_paths.py.

Outside hosts are real local servers on 127.0.0.1 (loopback is allowed in the tests, as on the local stack);
names that point inside are served by a resolver injected into the process's guard (a DNS server's part),
never by patching ``requests`` (see this folder's conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.support.connect_flow import callback_message
from tests.support.http_peer import HttpPeer
from tests.support.outbound_guard import REFUSED_BODY, definition, registered
from tests.support.pizzly import PizzlyApi

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
