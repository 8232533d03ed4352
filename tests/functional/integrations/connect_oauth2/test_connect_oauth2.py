"""The OAuth 2 connect flow (GET /auth/{integration}, GET /auth/callback) against a real authorization server.

The Chalice test client does not follow redirects: a test follows Keyport's 302 to the provider's
/authorize with requests, then takes the provider's redirect back to /auth/callback through the client,
as a browser popup would (tests/support/oauth2_connect.py). Connect parameters, keys, configuration and
the token endpoint's variants are in test_connect_oauth2_options.py; the fixtures are in this folder's
conftest.py.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.support.connect_flow import CALLBACK, CLIENT_ID, call, start
from tests.support.oauth2_connect import authentications, connect, follow, location_query, message, register, state_item
from tests.support.oauth2_provider import OAuth2Provider

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
