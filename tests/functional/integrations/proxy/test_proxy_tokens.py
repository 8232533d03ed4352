"""The proxy's tokens (real OAuth 1 and 2 providers): an OAuth 2 token due, or refused upstream with a 401,
is refreshed once around the call, and OAuth 1.0a calls are signed over the final URL, query and form body.
Calls with a path tail go through ``chalicelib.integrations.proxy.forward``, the function the view calls
(see test_proxy.py); the fixtures are in this folder's conftest.py.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.connect_flow import call, connect, register, secret_key_header
from tests.support.moto_stack import at_once
from tests.support.oauth1_provider import OAuth1Provider
from tests.support.oauth2_provider import OAuth2Provider
from tests.support.proxy_calls import OAUTH2_CREDENTIALS, echoed, forward, stored_payload

# --- refresh -----------------------------------------------------------------------------------------


def test_a_token_due_within_the_buffer_is_refreshed_before_the_call(client: Any, provider: OAuth2Provider) -> None:
    register(client, "plain", provider.definition("Plain"), OAUTH2_CREDENTIALS)
    provider.access_token_lifetime = 600  # expires in 10 minutes: inside the default 15-minute buffer
    auth_id = connect(client, "plain")
    old = stored_payload(client, "plain", auth_id)
    provider.access_token_lifetime = 3600

    sent = echoed(forward("plain", auth_id, "me"))

    [refresh] = provider.grants("refresh_token")
    assert refresh.form["refresh_token"] == old["refreshToken"]
    new = stored_payload(client, "plain", auth_id)
    assert new["accessToken"] == refresh.response["access_token"] != old["accessToken"]
    assert new["refreshToken"] == refresh.response["refresh_token"]
    assert sent["headers"]["authorization"] == f"Bearer {new['accessToken']}"
    assert [r.authorized for r in provider.api_requests] == [True]


def test_the_integrations_own_refresh_buffer_is_honoured(client: Any, provider: OAuth2Provider) -> None:
    register(client, "plain", provider.definition("Plain", refreshBufferSeconds=60), OAUTH2_CREDENTIALS)
    provider.access_token_lifetime = 600
    auth_id = connect(client, "plain")

    echoed(forward("plain", auth_id, "me"))

    assert provider.grants("refresh_token") == []


def test_a_401_from_upstream_triggers_one_refresh_and_one_retry(
    client: Any, provider: OAuth2Provider, plain: str
) -> None:
    provider.expire_access_tokens()

    sent = echoed(forward("plain", plain, "me"))

    assert len(provider.grants("refresh_token")) == 1
    assert [r.authorized for r in provider.api_requests] == [False, True]
    assert sent["headers"]["authorization"] == "Bearer " + stored_payload(client, "plain", plain)["accessToken"]


def test_an_upstream_that_stays_401_is_retried_once_only(client: Any, provider: OAuth2Provider, plain: str) -> None:
    response = forward("plain", plain, "status/401")

    assert response.status == 401
    assert len(provider.grants("refresh_token")) == 1
    assert len(provider.api_requests) == 2


def test_a_failed_refresh_before_the_call_still_forwards_with_the_old_token(
    client: Any, provider: OAuth2Provider
) -> None:
    register(client, "plain", provider.definition("Plain"), OAUTH2_CREDENTIALS)
    provider.access_token_lifetime = 600
    auth_id = connect(client, "plain")
    old = stored_payload(client, "plain", auth_id)
    provider.revoke_refresh_tokens()

    sent = echoed(forward("plain", auth_id, "me"))

    assert sent["headers"]["authorization"] == f"Bearer {old['accessToken']}"
    assert [r.response["error"] for r in provider.grants("refresh_token")] == ["invalid_grant"]
    _, view = call(client, "GET", f"/api/plain/authentications/{auth_id}")
    assert view["refresh"]["needs_reconnect"] is True
    assert view["payload"] == old

    echoed(forward("plain", auth_id, "me"))  # needing a reconnection, it is no longer due

    assert len(provider.grants("refresh_token")) == 1


def test_a_401_does_not_retry_a_refresh_token_the_provider_rejected_for_good(
    client: Any, provider: OAuth2Provider, plain: str
) -> None:
    from chalicelib.errors import KeyportError
    from chalicelib.oauth.refresh import RefreshFailed

    provider.revoke_refresh_tokens()
    provider.expire_access_tokens()
    with pytest.raises(RefreshFailed):  # the first 401 learns that the grant is dead (422)
        forward("plain", plain, "me")
    _, view = call(client, "GET", f"/api/plain/authentications/{plain}")
    assert view["refresh"]["needs_reconnect"] is True

    for _ in range(3):
        with contextlib.suppress(KeyportError):  # whatever is answered, the provider must not be asked again
            forward("plain", plain, "me")

    assert len(provider.grants("refresh_token")) == 1


def test_concurrent_calls_with_a_due_token_cause_exactly_one_refresh(client: Any, provider: OAuth2Provider) -> None:
    register(client, "plain", provider.definition("Plain"), OAUTH2_CREDENTIALS)
    provider.access_token_lifetime = 600
    auth_id = connect(client, "plain")
    provider.access_token_lifetime = 3600
    provider.token_delay = 0.3  # keeps the first refresh in flight while the others arrive

    results = at_once([lambda: forward("plain", auth_id, "me").status] * 4, timeout=30)

    assert results == [200, 200, 200, 200]
    assert len(provider.grants("refresh_token")) == 1
    assert all(r.authorized for r in provider.api_requests)


# --- OAuth 1.0a --------------------------------------------------------------------------------------


@pytest.fixture
def oauth1() -> Iterator[OAuth1Provider]:
    with OAuth1Provider() as running:
        running.add_client("keyport-consumer", "keyport-consumer-secret")
        yield running


SIGNED = pytest.mark.parametrize("tweeter", ["HMAC-SHA1", "PLAINTEXT"], indirect=True)


@pytest.fixture
def tweeter(request: Any, client: Any, oauth1: OAuth1Provider) -> str:
    """An OAuth 1.0a integration 'tweeter' signing with ``request.param``, connected once."""
    credentials = {"consumerKey": "keyport-consumer", "consumerSecret": "keyport-consumer-secret"}
    register(client, "tweeter", oauth1.definition("Tweeter", request.param), credentials)
    return connect(client, "tweeter")


@SIGNED
def test_oauth1_calls_are_signed_over_the_final_url_and_query(
    client: Any, oauth1: OAuth1Provider, tweeter: str
) -> None:
    query = [("q", "a b"), ("q", "c/d"), ("pizzly_pkey", "pk"), ("since", "2024-01-01T00:00:00Z")]

    response = forward("tweeter", tweeter, "statuses/home_timeline.json", query=query)

    sent = echoed(response)
    assert oauth1.requests[-1].endpoint == "api" and oauth1.requests[-1].valid
    assert sent["path"] == "/api/statuses/home_timeline.json"
    assert sent["query"] == {"q": ["a b", "c/d"], "since": ["2024-01-01T00:00:00Z"]}
    assert (
        f'oauth_token="{stored_payload(client, "tweeter", tweeter)["oAuthToken"]}"' in sent["headers"]["authorization"]
    )


@pytest.mark.parametrize(
    "tweeter",
    [
        "HMAC-SHA1",
        "PLAINTEXT",
    ],
    indirect=True,
)
def test_oauth1_form_bodies_are_signed_and_passed(client: Any, oauth1: OAuth1Provider, tweeter: str) -> None:
    body = b"status=hello+world&media_ids=1%2C2"

    response = forward(
        "tweeter",
        tweeter,
        "statuses/update.json",
        method="POST",
        query=[("trim_user", "1")],
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=body,
    )

    sent = echoed(response)
    assert oauth1.requests[-1].valid
    assert base64.b64decode(sent["body_base64"]) == body


@SIGNED
def test_oauth1_json_bodies_pass_byte_for_byte(client: Any, oauth1: OAuth1Provider, tweeter: str) -> None:
    body = b'{"text": "hello", "reply": {"in_reply_to_tweet_id": "1"}}'

    response = forward(
        "tweeter", tweeter, "2/tweets", method="POST", headers={"Content-Type": "application/json"}, body=body
    )

    sent = echoed(response)
    assert oauth1.requests[-1].valid
    assert base64.b64decode(sent["body_base64"]) == body
    assert sent["headers"]["content-type"] == "application/json"


@SIGNED
def test_oauth1_through_the_route(client: Any, oauth1: OAuth1Provider, tweeter: str) -> None:
    response = client.http.get(
        "/proxy/tweeter?count=5&count=6", headers={**secret_key_header(), "Pizzly-Auth-Id": tweeter}
    )

    assert response.status_code == 200, response.body
    assert json.loads(response.body)["query"] == {"count": ["5", "6"]}
    assert oauth1.requests[-1].valid
