"""The OAuth 2 connect flow (GET /auth/{integration}, GET /auth/callback) against a real authorization server.

The Chalice test client does not follow redirects: a test follows Keyport's 302 to the provider's
/authorize with requests, then takes the provider's redirect back to /auth/callback through the client,
as a browser popup would.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.support import connect_flow
from tests.support.connect_flow import CALLBACK, CLIENT_ID, CLIENT_SECRET, call, callback_message, start
from tests.support.moto_stack import Models, connect_flow_models, set_env
from tests.support.oauth2_provider import OAuth2Provider


@pytest.fixture(scope="module")
def integrations_models() -> Models:
    """The REST API's tables and the connect flow's OAuth states."""
    return connect_flow_models


def message(page: Any) -> dict[str, Any]:
    """The message the callback page posts to window.opener (an HTML page)."""
    assert page.headers["Content-Type"].startswith("text/html")
    return callback_message(page)


@dataclass
class Connected:
    start: Any  # Keyport's answer to /auth/{integration}
    authorize: requests.Response  # the provider's answer to /authorize
    callback: Any  # Keyport's answer to /auth/callback

    @property
    def event(self) -> dict[str, Any]:
        return message(self.callback)


def follow(client: Any, start_response: Any) -> Connected:
    """Follow Keyport's redirect to the provider, and the provider's back to Keyport."""
    assert start_response.status_code == 302, start_response.body
    authorize = requests.get(start_response.headers["Location"], allow_redirects=False, timeout=5)
    assert authorize.status_code == 302, authorize.text
    back = urlsplit(authorize.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK
    return Connected(start_response, authorize, client.http.get(f"{back.path}?{back.query}"))


def connect(client: Any, integration: str, **query: str) -> Connected:
    return follow(client, start(client, integration, **query))


def location_query(response: Any) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def authentications(client: Any, integration: str) -> list[dict[str, Any]]:
    status, body = call(client, "GET", f"/api/{integration}/authentications?limit=100")
    assert status == 200, body
    items: list[dict[str, Any]] = body["data"]
    return items


@pytest.fixture
def provider() -> Iterator[OAuth2Provider]:
    with OAuth2Provider() as running:
        yield running


def register(client: Any, integration: str, definition: dict[str, Any], scopes: list[str] | None = None) -> str:
    """PUT the integration and POST a configuration with the provider's client; the setup id."""
    credentials = {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}
    return connect_flow.register(client, integration, definition, credentials, scopes or [])


@pytest.fixture
def acme(client: Any, provider: OAuth2Provider) -> str:
    """An authorization-code integration 'acme' on the provider, with one configuration."""
    provider.add_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK])
    return register(client, "acme", provider.definition("Acme"), scopes=["read"])


def state_item(start_response: Any) -> Any:
    """The stored OAuthState of a started flow (keyed by the SHA-256 of the state sent to the provider)."""
    from chalicelib.integrations import connect
    from chalicelib.integrations.models import OAuthState

    state = location_query(start_response)["state"]
    return OAuthState.get(connect._hash(state), consistent_read=True)


# --- the code flow ---------------------------------------------------------------------------------


def test_code_flow_stores_the_providers_tokens(client: Any, provider: OAuth2Provider, acme: str) -> None:
    flow = connect(client, "acme", setupId=acme)

    assert flow.callback.status_code == 200
    event = flow.event
    assert event["eventType"] == "AUTHORIZATION_SUCEEDED"
    auth_id = event["data"]["authId"]
    assert event["data"] == {"authId": auth_id, "integration": "acme"}
    issued = provider.grants("authorization_code")[-1].response
    assert issued["access_token"].encode() not in flow.callback.body
    status, stored = call(client, "GET", f"/api/acme/authentications/{auth_id}")
    assert status == 200, stored
    assert stored["setup_id"] == acme
    payload = stored["payload"]
    assert payload["accessToken"] == issued["access_token"]
    assert payload["refreshToken"] == issued["refresh_token"]
    assert payload["expiresIn"] == 3600
    assert payload["scope"] == "read"


def test_the_authorization_request_carries_client_redirect_scope_state_and_an_s256_challenge(
    client: Any, provider: OAuth2Provider, acme: str
) -> None:
    started = start(client, "acme", setupId=acme)
    assert started.status_code == 302
    assert started.headers["Cache-Control"] == "no-store"
    sent = location_query(started)
    assert urlsplit(started.headers["Location"]).path == "/authorize"
    assert sent["client_id"] == CLIENT_ID
    assert sent["redirect_uri"] == CALLBACK
    assert sent["response_type"] == "code"
    assert sent["scope"] == "read"
    assert len(sent["state"]) >= 32
    assert sent["code_challenge_method"] == "S256"

    follow(client, started)
    exchange = provider.grants("authorization_code")[-1]
    assert exchange.status == 200
    assert exchange.form["redirect_uri"] == CALLBACK
    assert create_s256_code_challenge(exchange.form["code_verifier"]) == sent["code_challenge"]


def test_the_provider_refuses_a_wrong_code_verifier(client: Any, provider: OAuth2Provider, acme: str) -> None:
    from chalicelib.crypto import seal_json
    from chalicelib.integrations import connect as connecting

    started = start(client, "acme", setupId=acme)
    item = state_item(started)
    item.secret = seal_json({"code_verifier": "x" * 64}, purpose=connecting.STATE_PURPOSE, record=item.id)
    item.save()

    flow = follow(client, started)

    assert flow.callback.status_code == 400
    assert flow.event["eventType"] == "AUTHORIZATION_FAILED"
    assert flow.event["data"]["error"]["type"] == "token_exchange_failed"
    refused = provider.grants("authorization_code")[-1]
    assert refused.form["code_verifier"] == "x" * 64
    assert refused.status == 400 and refused.response["error"] == "invalid_grant"
    assert authentications(client, "acme") == []


def test_a_replayed_code_is_refused_by_the_provider(client: Any, provider: OAuth2Provider, acme: str) -> None:
    first = connect(client, "acme", setupId=acme)
    assert first.callback.status_code == 200
    used_code = location_query(first.authorize)["code"]
    second = start(client, "acme", setupId=acme)
    state = location_query(second)["state"]

    replay = client.http.get(f"/auth/callback?{urlencode({'code': used_code, 'state': state})}")

    assert replay.status_code == 400
    assert message(replay)["data"]["error"]["type"] == "token_exchange_failed"
    assert provider.grants("authorization_code")[-1].response["error"] == "invalid_grant"
    assert len(authentications(client, "acme")) == 1


def test_without_setup_id_the_latest_configuration_is_used(client: Any, provider: OAuth2Provider, acme: str) -> None:
    provider.add_client("newer-client", "newer-client-secret-0002", [CALLBACK])
    status, body = call(
        client,
        "POST",
        "/api/acme/configurations",
        {"credentials": {"clientId": "newer-client", "clientSecret": "newer-client-secret-0002"}},
    )
    assert status == 201
    newer = body["configuration"]["id"]

    flow = connect(client, "acme")

    assert flow.callback.status_code == 200, flow.callback.body
    assert location_query(flow.start)["client_id"] == "newer-client"
    stored = authentications(client, "acme")
    assert [a["setup_id"] for a in stored] == [newer]


def test_snake_case_auth_id_and_setup_id_are_accepted(client: Any, provider: OAuth2Provider, acme: str) -> None:
    flow = connect(client, "acme", auth_id="customer-42", setup_id=acme)

    assert flow.event["data"]["authId"] == "customer-42"
    status, stored = call(client, "GET", "/api/acme/authentications/customer-42")
    assert status == 200 and stored["setup_id"] == acme


def test_an_unknown_setup_id_fails_with_a_page(client: Any, acme: str) -> None:
    page = start(client, "acme", setupId="no-such-setup")

    assert page.status_code == 404
    assert message(page)["data"]["error"]["type"] == "unknown_configuration"


# --- state -----------------------------------------------------------------------------------------


def test_a_state_is_used_once(client: Any, provider: OAuth2Provider, acme: str) -> None:
    flow = connect(client, "acme", setupId=acme)
    assert flow.callback.status_code == 200
    back = urlsplit(flow.authorize.headers["Location"])

    again = client.http.get(f"{back.path}?{back.query}")

    assert again.status_code == 400
    event = message(again)
    assert event["eventType"] == "AUTHORIZATION_FAILED"
    assert event["data"]["error"]["type"] == "invalid_state"
    assert len(provider.grants("authorization_code")) == 1
    assert len(authentications(client, "acme")) == 1


def test_an_unknown_state_fails_without_calling_the_provider(client: Any, provider: OAuth2Provider, acme: str) -> None:
    page = client.http.get("/auth/callback?code=whatever&state=made-up-state")

    assert page.status_code == 400
    assert message(page)["data"]["error"] == {
        "type": "invalid_state",
        "message": "This authorization is unknown, already used or expired; start the connection again.",
    }
    assert provider.token_requests == []


def test_a_callback_without_state_fails(client: Any, acme: str) -> None:
    page = client.http.get("/auth/callback?code=whatever")

    assert page.status_code == 400
    assert message(page)["data"]["error"]["type"] == "invalid_state"


def test_an_expired_state_fails(client: Any, provider: OAuth2Provider, acme: str) -> None:
    from chalicelib.http import now_ms
    from chalicelib.integrations.models import OAuthState

    started = start(client, "acme", setupId=acme)
    item = state_item(started)
    assert now_ms() < item.expires_at <= now_ms() + 10 * 60 * 1000
    item.update(actions=[OAuthState.expires_at.set(now_ms() - 1)])

    flow = follow(client, started)

    assert flow.callback.status_code == 400
    assert flow.event["data"]["error"]["type"] == "invalid_state"
    assert provider.token_requests == []
    assert authentications(client, "acme") == []


def test_access_denied_by_the_user_shows_a_failure_page(client: Any, provider: OAuth2Provider, acme: str) -> None:
    provider.deny_next_authorization()

    flow = connect(client, "acme", setupId=acme)

    assert location_query(flow.authorize)["error"] == "access_denied"
    assert flow.callback.status_code == 400
    event = flow.event
    assert event["eventType"] == "AUTHORIZATION_FAILED"
    assert event["data"]["error"]["type"] == "authorization_denied"
    assert "access_denied" in event["data"]["error"]["message"]
    assert provider.token_requests == []
    assert authentications(client, "acme") == []


# --- reconnecting ----------------------------------------------------------------------------------


def test_reconnecting_with_an_auth_id_updates_it_in_place(client: Any, provider: OAuth2Provider, acme: str) -> None:
    first = connect(client, "acme", setupId=acme)
    auth_id = first.event["data"]["authId"]
    _, before = call(client, "GET", f"/api/acme/authentications/{auth_id}")

    second = connect(client, "acme", setupId=acme, authId=auth_id)

    assert second.event["data"]["authId"] == auth_id
    stored = authentications(client, "acme")
    assert [a["id"] for a in stored] == [auth_id]
    newest = provider.grants("authorization_code")[-1].response["access_token"]
    assert stored[0]["payload"]["accessToken"] == newest != before["payload"]["accessToken"]
    assert stored[0]["created_at"] == before["created_at"]


def test_an_auth_id_of_another_integration_is_refused(client: Any, provider: OAuth2Provider, acme: str) -> None:
    auth_id = connect(client, "acme", setupId=acme).event["data"]["authId"]
    register(client, "other", provider.definition("Other"))

    page = start(client, "other", authId=auth_id)

    assert page.status_code == 400
    assert message(page)["data"]["error"]["type"] == "invalid_auth_id"


# --- connect parameters ----------------------------------------------------------------------------


@pytest.fixture
def shop(client: Any, provider: OAuth2Provider) -> str:
    """An integration whose URLs need ${connectParams.shop}, like Shopify's."""
    provider.add_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK])
    definition = provider.definition(
        "Shop",
        authorizationURL=f"{provider.base_url}/authorize?shop=${{connectParams.shop}}",
        tokenURL=f"{provider.base_url}/token?shop=${{connectParams.shop}}",
    )
    return register(client, "shop", definition)


def test_connect_params_fill_the_integrations_urls(client: Any, provider: OAuth2Provider, shop: str) -> None:
    flow = connect(client, "shop", **{"params[shop]": "acme-store.eu"})

    assert flow.callback.status_code == 200, flow.callback.body
    assert location_query(flow.start)["shop"] == "acme-store.eu"
    assert provider.grants("authorization_code")[-1].query == {"shop": "acme-store.eu"}
    auth_id = flow.event["data"]["authId"]
    _, stored = call(client, "GET", f"/api/shop/authentications/{auth_id}")
    assert stored["connect_params"] == {"shop": "acme-store.eu"}


@pytest.mark.parametrize("value", ["evil.com/x", "a b", "../admin", "x?y=1", ".hidden"])
def test_an_invalid_connect_param_is_refused(client: Any, provider: OAuth2Provider, shop: str, value: str) -> None:
    page = start(client, "shop", **{"params[shop]": value})

    assert page.status_code == 400
    assert message(page)["data"]["error"]["type"] == "invalid_connect_params"
    assert provider.authorization_requests == []


def test_a_missing_connect_param_is_refused(client: Any, shop: str) -> None:
    page = start(client, "shop")

    assert page.status_code == 400
    assert message(page)["data"]["error"]["type"] == "missing_template_value"


# --- keys, configuration, callback URL -------------------------------------------------------------


def test_the_publishable_key_is_required_when_configured(
    client: Any, acme: str, settings_env: pytest.MonkeyPatch
) -> None:
    set_env(settings_env, PUBLISHABLE_KEY="pk-test-0123456789")

    missing = start(client, "acme", setupId=acme)
    wrong = start(client, "acme", setupId=acme, pizzly_pkey="pk-test-wrong")
    right = start(client, "acme", setupId=acme, pizzly_pkey="pk-test-0123456789")

    assert missing.status_code == 401
    assert message(missing)["data"]["error"]["type"] == "missing_publishable_key"
    assert wrong.status_code == 401
    assert message(wrong)["data"]["error"]["type"] == "invalid_publishable_key"
    assert right.status_code == 302


def test_without_a_publishable_key_configured_none_is_needed(client: Any, acme: str) -> None:
    assert start(client, "acme", setupId=acme).status_code == 302


def test_an_integration_without_configuration_fails_with_400(client: Any, provider: OAuth2Provider) -> None:
    status, _ = call(client, "PUT", "/api/bare", provider.definition("Bare"))
    assert status == 201

    page = start(client, "bare")

    assert page.status_code == 400
    assert message(page)["data"]["error"]["type"] == "missing_configuration"


def test_an_unknown_integration_fails_with_404(client: Any) -> None:
    page = start(client, "no-such-integration")

    assert page.status_code == 404
    assert message(page)["data"]["error"]["type"] == "unknown_integration"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CALLBACK_URL", "https://keys.example.com/custom/callback", "https://keys.example.com/custom/callback"),
        ("PUBLIC_URL", "https://keys.example.com/prod/", "https://keys.example.com/prod/auth/callback"),
    ],
)
def test_the_callback_url_follows_the_settings(
    client: Any, acme: str, settings_env: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    set_env(settings_env, **{variable: value})

    started = start(client, "acme", setupId=acme)

    assert location_query(started)["redirect_uri"] == expected
    assert state_item(started).redirect_uri == expected


# --- token endpoint variants -----------------------------------------------------------------------


def test_pkce_can_be_turned_off_per_integration(client: Any, provider: OAuth2Provider) -> None:
    provider.add_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK], require_pkce=False)
    setup_id = register(client, "legacy", provider.definition("Legacy", pkce=False))

    flow = connect(client, "legacy", setupId=setup_id)

    assert flow.callback.status_code == 200, flow.callback.body
    assert "code_challenge" not in location_query(flow.start)
    assert "code_verifier" not in provider.grants("authorization_code")[-1].form


def test_authorization_method_header_sends_http_basic(client: Any, provider: OAuth2Provider) -> None:
    provider.add_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK], token_endpoint_auth_method="client_secret_basic")
    setup_id = register(client, "basic", provider.definition("Basic", authorizationMethod="header"))

    flow = connect(client, "basic", setupId=setup_id)

    assert flow.callback.status_code == 200, flow.callback.body
    exchange = provider.grants("authorization_code")[-1]
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert exchange.headers["authorization"] == f"Basic {expected}"
    assert "client_secret" not in exchange.form


def test_authorization_method_body_sends_the_secret_in_the_form(
    client: Any, provider: OAuth2Provider, acme: str
) -> None:
    connect(client, "acme", setupId=acme)

    exchange = provider.grants("authorization_code")[-1]
    assert exchange.status == 200
    assert exchange.body_format == "form"
    assert exchange.form["client_id"] == CLIENT_ID and exchange.form["client_secret"] == CLIENT_SECRET
    assert "authorization" not in exchange.headers


def test_body_format_json_sends_a_json_token_request(client: Any, provider: OAuth2Provider) -> None:
    provider.add_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK])
    definition = provider.definition("Json", bodyFormat="json", tokenParams={"audience": "api"})
    setup_id = register(client, "jsonbody", definition)

    flow = connect(client, "jsonbody", setupId=setup_id)

    assert flow.callback.status_code == 200, flow.callback.body
    exchange = provider.grants("authorization_code")[-1]
    assert exchange.body_format == "json"
    assert exchange.headers["content-type"].startswith("application/json")
    assert exchange.form["client_secret"] == CLIENT_SECRET
    assert exchange.form["audience"] == "api"


def test_authorization_params_reach_the_provider(client: Any, provider: OAuth2Provider) -> None:
    provider.add_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK])
    definition = provider.definition("Offline", authorizationParams={"access_type": "offline", "prompt": "consent"})
    setup_id = register(client, "offline", definition)

    flow = connect(client, "offline", setupId=setup_id)

    assert flow.callback.status_code == 200
    assert provider.authorization_requests[-1]["access_type"] == "offline"
    assert provider.authorization_requests[-1]["prompt"] == "consent"


def test_client_credentials_integrations_get_their_token_at_once(client: Any, provider: OAuth2Provider) -> None:
    provider.add_client(CLIENT_ID, CLIENT_SECRET, [], token_endpoint_auth_method="client_secret_basic")
    definition = provider.definition("Machine", grantType="client_credentials", authorizationMethod="header")
    del definition["auth"]["authorizationURL"]
    setup_id = register(client, "machine", definition, scopes=["read"])

    page = start(client, "machine", setupId=setup_id)

    assert page.status_code == 200, page.body
    event = message(page)
    assert event["eventType"] == "AUTHORIZATION_SUCEEDED"
    assert provider.authorization_requests == []
    grant = provider.grants("client_credentials")[-1]
    assert grant.form["scope"] == "read"
    _, stored = call(client, "GET", f"/api/machine/authentications/{event['data']['authId']}")
    assert stored["payload"]["accessToken"] == grant.response["access_token"]
    assert "refreshToken" not in stored["payload"]


def test_a_refused_client_credentials_grant_fails_with_a_page(client: Any, provider: OAuth2Provider) -> None:
    provider.add_client(CLIENT_ID, "another-secret", [])
    setup_id = register(client, "machine", provider.definition("Machine", grantType="client_credentials"))

    page = start(client, "machine", setupId=setup_id)

    assert provider.grants("client_credentials")[-1].response["error"] == "invalid_client"
    assert page.status_code != 500, page.body
    assert message(page)["eventType"] == "AUTHORIZATION_FAILED"
    assert authentications(client, "machine") == []


# --- the page ----------------------------------------------------------------------------------------


def test_the_callback_page_posts_to_the_opener_and_closes(client: Any, acme: str) -> None:
    flow = connect(client, "acme", setupId=acme)
    body = flow.callback.body.decode()

    assert flow.callback.headers["Cache-Control"] == "no-store"
    assert flow.callback.headers["X-Frame-Options"] == "DENY"
    assert "window.opener.postMessage(message, origin)" in body
    assert "window.close()" in body
    nonce = re.search(r"script-src 'nonce-([^']+)'", body)
    assert nonce and f'<script nonce="{nonce.group(1)}">' in body
