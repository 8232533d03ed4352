"""The OAuth 1.0a connect flow against a real provider (oauthlib's server side verifies every signature).

Request token (signed, with the callback), user authorization (the browser), access token (signed with
the request-token secret Keyport kept server-side): HMAC-SHA1, PLAINTEXT and RSA-SHA1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.support import connect_flow
from tests.support.connect_flow import CALLBACK, call, callback_message
from tests.support.moto_stack import Models, connect_flow_models
from tests.support.oauth1_provider import OAuth1Provider, rsa_key_pair

CONSUMER_KEY, CONSUMER_SECRET = "keyport-consumer", "keyport-consumer-secret"
RSA_CONSUMER_KEY = "keyport-rsa-consumer"


def query_of(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture(scope="module")
def integrations_models() -> Models:
    """The REST API's tables and the connect flow's OAuth states."""
    return connect_flow_models


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    return rsa_key_pair()


@pytest.fixture
def provider(rsa_keys: tuple[str, str]) -> Iterator[OAuth1Provider]:
    with OAuth1Provider() as running:
        running.add_client(CONSUMER_KEY, CONSUMER_SECRET)
        running.add_client(RSA_CONSUMER_KEY, "", rsa_public_key=rsa_keys[1])
        yield running


def register(client: Any, provider: OAuth1Provider, integration: str, method: str, key: str, secret: str) -> str:
    credentials = {"consumerKey": key, "consumerSecret": secret}
    return connect_flow.register(client, integration, provider.definition(integration, method), credentials)


@pytest.fixture(params=["HMAC-SHA1", "PLAINTEXT", "RSA-SHA1"])
def integration(request: Any, client: Any, provider: OAuth1Provider, rsa_keys: tuple[str, str]) -> str:
    """An OAuth 1.0a integration 'tweeter' signing with each method in turn."""
    method = request.param
    if method == "RSA-SHA1":
        register(client, provider, "tweeter", method, RSA_CONSUMER_KEY, rsa_keys[0])
    else:
        register(client, provider, "tweeter", method, CONSUMER_KEY, CONSUMER_SECRET)
    return method


def test_the_three_legs_store_the_access_token_and_its_secret(
    client: Any, provider: OAuth1Provider, integration: str
) -> None:
    started = client.http.get("/auth/tweeter")
    assert started.status_code == 302, started.body
    request_token = query_of(started.headers["Location"])["oauth_token"]
    authorized = requests.get(started.headers["Location"], allow_redirects=False, timeout=5)
    assert authorized.status_code == 302
    back = urlsplit(authorized.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK

    page = client.http.get(f"{back.path}?{back.query}")

    assert page.status_code == 200, page.body
    event = callback_message(page)
    assert event["eventType"] == "AUTHORIZATION_SUCEEDED"
    auth_id = event["data"]["authId"]
    assert event["data"] == {"authId": auth_id, "integration": "tweeter"}
    legs = {r.endpoint: r for r in provider.requests}
    assert legs["request_token"].valid and legs["request_token"].signature_method == integration
    assert legs["access_token"].valid and legs["access_token"].signature_method == integration
    status, stored = call(client, "GET", f"/api/tweeter/authentications/{auth_id}")
    assert status == 200
    [(access_token, access_secret)] = provider.access_tokens.items()
    assert stored["payload"]["oAuthToken"] == access_token
    assert stored["payload"]["oAuthTokenSecret"] == access_secret
    # The request-token secret stayed server-side: nothing the browser saw carries it.
    request_secret = provider.request_tokens[request_token]
    seen = [started.headers["Location"], authorized.headers["Location"], page.body.decode()]
    assert not [text for text in seen if request_secret in text]


def test_the_callback_keyport_signs_carries_only_the_state(client: Any, provider: OAuth1Provider) -> None:
    register(client, provider, "tweeter", "HMAC-SHA1", CONSUMER_KEY, CONSUMER_SECRET)

    started = client.http.get("/auth/tweeter")

    request_token = query_of(started.headers["Location"])["oauth_token"]
    callback = provider.callbacks[request_token]
    assert callback.startswith(CALLBACK + "?")
    assert list(query_of(callback)) == ["state"]


def test_a_state_is_used_once(client: Any, provider: OAuth1Provider) -> None:
    register(client, provider, "tweeter", "HMAC-SHA1", CONSUMER_KEY, CONSUMER_SECRET)
    started = client.http.get("/auth/tweeter")
    authorized = requests.get(started.headers["Location"], allow_redirects=False, timeout=5)
    back = urlsplit(authorized.headers["Location"])
    assert client.http.get(f"{back.path}?{back.query}").status_code == 200

    again = client.http.get(f"{back.path}?{back.query}")

    assert again.status_code == 400
    assert callback_message(again)["data"]["error"]["type"] == "invalid_state"
    assert len([r for r in provider.requests if r.endpoint == "access_token"]) == 1


def test_a_callback_without_verifier_fails(client: Any, provider: OAuth1Provider) -> None:
    register(client, provider, "tweeter", "HMAC-SHA1", CONSUMER_KEY, CONSUMER_SECRET)
    started = client.http.get("/auth/tweeter")
    request_token = query_of(started.headers["Location"])["oauth_token"]
    state = query_of(provider.callbacks[request_token])["state"]

    page = client.http.get(f"/auth/callback?{urlencode({'state': state, 'oauth_token': request_token})}")

    assert page.status_code == 400
    assert callback_message(page)["data"]["error"]["type"] == "invalid_callback"


def test_a_forged_verifier_is_refused_by_the_provider(client: Any, provider: OAuth1Provider) -> None:
    register(client, provider, "tweeter", "HMAC-SHA1", CONSUMER_KEY, CONSUMER_SECRET)
    started = client.http.get("/auth/tweeter")
    authorized = requests.get(started.headers["Location"], allow_redirects=False, timeout=5)
    values = query_of(authorized.headers["Location"])
    values["oauth_verifier"] = "forged-verifier-0000"

    page = client.http.get(f"/auth/callback?{urlencode(values)}")

    assert page.status_code == 400
    assert callback_message(page)["data"]["error"]["type"] == "token_exchange_failed"
    assert [r.valid for r in provider.requests if r.endpoint == "access_token"] == [False]
    status, body = call(client, "GET", "/api/tweeter/authentications")
    assert status == 200 and body["data"] == []


def test_reconnecting_with_an_auth_id_updates_it_in_place(client: Any, provider: OAuth1Provider) -> None:
    register(client, provider, "tweeter", "HMAC-SHA1", CONSUMER_KEY, CONSUMER_SECRET)

    def connect(**query: str) -> dict[str, Any]:
        started = client.http.get(f"/auth/tweeter?{urlencode(query)}")
        authorized = requests.get(started.headers["Location"], allow_redirects=False, timeout=5)
        back = urlsplit(authorized.headers["Location"])
        return callback_message(client.http.get(f"{back.path}?{back.query}"))

    auth_id = connect(authId="account-7")["data"]["authId"]
    assert connect(authId="account-7")["data"]["authId"] == auth_id == "account-7"

    status, body = call(client, "GET", "/api/tweeter/authentications")
    assert status == 200
    assert [a["id"] for a in body["data"]] == ["account-7"]
    assert body["data"][0]["payload"]["oAuthToken"] == list(provider.access_tokens)[-1]


def test_a_refused_request_token_fails_with_a_page(client: Any, provider: OAuth1Provider) -> None:
    register(client, provider, "tweeter", "HMAC-SHA1", CONSUMER_KEY, "not-the-consumer-secret")

    page = client.http.get("/auth/tweeter")

    assert [r.valid for r in provider.requests] == [False]
    assert page.status_code != 500, page.body
    assert callback_message(page)["eventType"] == "AUTHORIZATION_FAILED"
