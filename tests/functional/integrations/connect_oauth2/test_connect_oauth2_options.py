"""The OAuth 2 connect flow's options against a real authorization server: connect parameters in the
integration's URLs, the publishable key, a missing configuration or integration, the callback URL the
settings give, and the token endpoint's variants (PKCE off, client authentication in a header or the body,
JSON bodies, authorization parameters, the client-credentials grant). The flow itself is in
test_connect_oauth2.py; the fixtures are in this folder's conftest.py.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.support.connect_flow import CALLBACK, CLIENT_ID, CLIENT_SECRET, call, start
from tests.support.moto_stack import set_env
from tests.support.oauth2_connect import authentications, connect, location_query, message, register, state_item
from tests.support.oauth2_provider import OAuth2Provider

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
