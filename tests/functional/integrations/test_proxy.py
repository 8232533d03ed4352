"""The proxy forwards calls to the provider's API with the stored credentials (real OAuth 1 and 2 providers).

The Chalice test client does not route greedy ``{proxy+}`` paths (API Gateway does), so calls with a
path tail go through ``chalicelib.integrations.proxy.forward``, the function the view calls, and the
route itself is exercised on its non-greedy base, ``/proxy/{integration}``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.connect_flow import CALLBACK, CLIENT_ID, CLIENT_SECRET, call, connect, register, secret_key_header
from tests.support.moto_stack import Models, at_once, connect_flow_models, set_env
from tests.support.oauth1_provider import OAuth1Provider
from tests.support.oauth2_provider import BINARY_BODY, OAuth2Provider


@pytest.fixture(scope="module")
def integrations_models() -> Models:
    """The REST API's tables and the connect flow's OAuth states."""
    return connect_flow_models


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


@pytest.fixture
def provider() -> Iterator[OAuth2Provider]:
    with OAuth2Provider() as running:
        running.add_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK])
        yield running


OAUTH2_CREDENTIALS = {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}


@pytest.fixture
def echo(client: Any, provider: OAuth2Provider) -> str:
    """An integration 'shopapi' whose request template uses auth, connect params and forwarded headers."""
    definition = provider.definition(
        "Shop API",
        request={
            "baseURL": f"{provider.base_url}/api/shops/${{connectParams.shop}}/",
            "headers": {
                "Authorization": "Bearer ${auth.accessToken}",
                "X-Shop": "${connectParams.shop}",
                "X-Account": "${headers.x-account}",
            },
            "params": {"api_version": "2024-01"},
        },
    )
    register(client, "shopapi", definition, OAUTH2_CREDENTIALS)
    return connect(client, "shopapi", **{"params[shop]": "acme-store"})


@pytest.fixture
def plain(client: Any, provider: OAuth2Provider) -> str:
    """An integration 'plain' with the provider's default template (bearer token on <base>/api/)."""
    register(client, "plain", provider.definition("Plain"), OAUTH2_CREDENTIALS)
    return connect(client, "plain")


# --- the route (non-greedy base) -----------------------------------------------------------------------


def test_a_call_without_pizzly_auth_id_is_refused(client: Any, plain: str) -> None:
    response = client.http.get("/proxy/plain", headers=secret_key_header())

    assert response.status_code == 400
    assert json.loads(response.body)["error"]["type"] == "missing_auth_id"


def test_a_call_without_any_key_is_refused(client: Any, plain: str, provider: OAuth2Provider) -> None:
    response = client.http.get("/proxy/plain", headers={"Pizzly-Auth-Id": plain})

    assert response.status_code == 401
    assert json.loads(response.body)["error"]["type"] == "missing_secret_key"
    assert provider.api_requests == []


def test_an_unknown_auth_id_is_404(client: Any, plain: str) -> None:
    response = client.http.get("/proxy/plain", headers={**secret_key_header(), "Pizzly-Auth-Id": "nobody"})

    assert response.status_code == 404
    assert json.loads(response.body)["error"]["type"] == "unknown_authentication"


def test_the_base_route_forwards_with_the_stored_token_never_the_secret_key(
    client: Any, provider: OAuth2Provider, plain: str
) -> None:
    response = client.http.get(
        "/proxy/plain?x=1&pizzly_pkey=unused",
        headers={**secret_key_header(), "Pizzly-Auth-Id": plain, "Pizzly-Proxy-X-Trace": "t-1"},
    )

    assert response.status_code == 200, response.body
    echo = json.loads(response.body)
    assert echo["path"] == "/api/"
    assert echo["query"] == {"x": ["1"]}
    access_token = stored_payload(client, "plain", plain)["accessToken"]
    assert echo["headers"]["authorization"] == f"Bearer {access_token}"
    assert echo["headers"]["x-trace"] == "t-1"
    assert response.headers["x-echo"] == "yes"
    assert response.headers["x-multi"] == ["one", "two"]  # multiValueHeaders, as API Gateway expects
    assert os.environ["SECRET_KEY"] not in json.dumps(echo)
    assert not [name for name in echo["headers"] if name.startswith("pizzly")]


def test_the_base_route_returns_binary_bodies_byte_for_byte(client: Any, provider: OAuth2Provider, plain: str) -> None:
    definition = provider.definition("Binary", request={"baseURL": f"{provider.base_url}/api/binary"})
    status, _ = call(client, "PUT", "/api/plain", definition)
    assert status == 200

    response = client.http.get("/proxy/plain", headers={**secret_key_header(), "Pizzly-Auth-Id": plain})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.body == BINARY_BODY


def test_the_base_route_passes_a_binary_request_body(client: Any, provider: OAuth2Provider, plain: str) -> None:
    body = bytes(range(256)) * 4

    response = client.http.put(
        "/proxy/plain",
        headers={**secret_key_header(), "Pizzly-Auth-Id": plain, "Content-Type": "application/octet-stream"},
        body=body,
    )

    assert response.status_code == 200, response.body
    echo = json.loads(response.body)
    assert base64.b64decode(echo["body_base64"]) == body
    assert echo["headers"]["content-type"] == "application/octet-stream"


def test_the_base_route_returns_upstream_status_and_headers(client: Any, provider: OAuth2Provider, plain: str) -> None:
    status, _ = call(
        client,
        "PUT",
        "/api/plain",
        provider.definition("S", request={"baseURL": f"{provider.base_url}/api/status/418"}),
    )
    assert status == 200

    response = client.http.get("/proxy/plain", headers={**secret_key_header(), "Pizzly-Auth-Id": plain})

    assert response.status_code == 418
    assert json.loads(response.body) == {"status": 418}
    assert response.headers["x-echo"] == "yes"


# --- publishable key -----------------------------------------------------------------------------------


def test_the_publishable_key_is_refused_when_none_is_configured(client: Any, plain: str) -> None:
    response = client.http.get("/proxy/plain?pizzly_pkey=pk-anything", headers={"Pizzly-Auth-Id": plain})

    assert response.status_code == 401


def test_the_publishable_key_is_accepted_when_configured_and_correct(
    client: Any, provider: OAuth2Provider, plain: str, settings_env: pytest.MonkeyPatch
) -> None:
    set_env(settings_env, PUBLISHABLE_KEY="pk-test-0123456789")

    wrong = client.http.get("/proxy/plain?pizzly_pkey=pk-test-wrong", headers={"Pizzly-Auth-Id": plain})
    right = client.http.get("/proxy/plain?pizzly_pkey=pk-test-0123456789&q=1", headers={"Pizzly-Auth-Id": plain})

    assert wrong.status_code == 401
    assert json.loads(wrong.body)["error"]["type"] == "invalid_publishable_key"
    assert right.status_code == 200, right.body
    assert json.loads(right.body)["query"] == {"q": ["1"]}
    assert "pk-test" not in provider.api_requests[-1].headers.get("authorization", "")


# --- forwarding --------------------------------------------------------------------------------------


def test_the_request_template_is_filled_from_auth_connect_params_and_forwarded_headers(
    client: Any, provider: OAuth2Provider, echo: str
) -> None:
    response = forward("shopapi", echo, "orders/42", headers={"Pizzly-Proxy-X-Account": "acc-9"})

    sent = echoed(response)
    assert sent["path"] == "/api/shops/acme-store/orders/42"
    assert sent["headers"]["authorization"] == "Bearer " + stored_payload(client, "shopapi", echo)["accessToken"]
    assert sent["headers"]["x-shop"] == "acme-store"
    assert sent["headers"]["x-account"] == "acc-9"
    assert sent["query"] == {"api_version": ["2024-01"]}


def test_a_template_header_without_its_forwarded_value_is_a_400(client: Any, echo: str) -> None:
    from chalicelib.errors import BadRequest

    with pytest.raises(BadRequest) as refused:
        forward("shopapi", echo, "orders")

    assert refused.value.error_code == "missing_template_value"


def test_pizzly_proxy_headers_are_forwarded_without_the_prefix_and_others_are_not(
    client: Any, provider: OAuth2Provider, plain: str
) -> None:
    response = forward(
        "plain",
        plain,
        "things",
        headers={
            "Authorization": "Basic c2VjcmV0LWtleTo=",
            "Pizzly-Proxy-X-Request-Id": "r-77",
            "Pizzly-Proxy-Notion-Version": "2022-06-28",
            "Pizzly-Setup-Id": "",
            "Cookie": "session=should-not-leak",
            "X-Forwarded-For": "203.0.113.9",
            "Accept": "application/json",
        },
    )

    headers = echoed(response)["headers"]
    assert headers["x-request-id"] == "r-77"
    assert headers["notion-version"] == "2022-06-28"
    assert headers["accept"] == "application/json"
    assert headers["authorization"].startswith("Bearer at-")
    assert "cookie" not in headers and "x-forwarded-for" not in headers
    assert not [name for name in headers if name.startswith("pizzly")]


def test_pizzly_query_parameters_are_dropped_and_the_others_kept_in_order(
    client: Any, provider: OAuth2Provider, plain: str
) -> None:
    query = [("a", "1"), ("pizzly_pkey", "pk"), ("a", "2"), ("b", "x y/z&"), ("Pizzly_Other", "z"), ("c", "")]

    sent = echoed(forward("plain", plain, "search", query=query))

    assert sent["query"] == {"a": ["1", "2"], "b": ["x y/z&"], "c": [""]}
    assert "pizzly" not in sent["query_string"].lower()


def test_the_path_tail_is_passed_with_its_encoding(client: Any, provider: OAuth2Provider, plain: str) -> None:
    sent = echoed(forward("plain", plain, "files/a%20b/c%2Fd"))

    assert provider.api_requests[-1].path == "/api/files/a b/c/d"
    assert sent["path"] == "/api/files/a b/c/d"


def test_a_json_body_passes_byte_for_byte_with_its_content_type(
    client: Any, provider: OAuth2Provider, plain: str
) -> None:
    body = b'{"b": 2,   "a": [1, 2.50, "\\u00e9"], "z": null}\n'

    sent = echoed(
        forward(
            "plain",
            plain,
            "items",
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8"},
            body=body,
        )
    )

    assert sent["method"] == "POST"
    assert base64.b64decode(sent["body_base64"]) == body
    assert sent["headers"]["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_binary_bodies_pass_byte_for_byte(client: Any, provider: OAuth2Provider, plain: str, method: str) -> None:
    body = bytes(range(256))[::-1] * 3

    sent = echoed(
        forward("plain", plain, "blob", method=method, headers={"Content-Type": "application/octet-stream"}, body=body)
    )

    assert sent["method"] == method
    assert base64.b64decode(sent["body_base64"]) == body
    assert sent["headers"]["content-type"] == "application/octet-stream"


def test_a_binary_response_comes_back_byte_for_byte(client: Any, provider: OAuth2Provider, plain: str) -> None:
    response = forward("plain", plain, "binary")

    assert response.status == 200
    assert response.body == BINARY_BODY
    assert response.headers["content-type"] == "application/octet-stream"


def test_an_upstream_body_larger_than_a_lambda_response_is_refused_not_relayed(
    client: Any, provider: OAuth2Provider, plain: str
) -> None:
    from chalicelib.errors import ResponseTooLarge
    from chalicelib.limits import MAX_RESPONSE_BODY_BYTES

    assert len(forward("plain", plain, "bytes/1000000").body) == 1_000_000  # streamed and read whole
    assert len(forward("plain", plain, f"bytes/{MAX_RESPONSE_BODY_BYTES}").body) == MAX_RESPONSE_BODY_BYTES

    with pytest.raises(ResponseTooLarge) as refused:
        forward("plain", plain, f"bytes/{MAX_RESPONSE_BODY_BYTES + 1}")
    assert (refused.value.status, refused.value.error_code) == (502, "response_too_large")


@pytest.mark.parametrize("status", [201, 204, 404, 418, 500, 503])
def test_the_upstream_status_comes_back(client: Any, provider: OAuth2Provider, plain: str, status: int) -> None:
    response = forward("plain", plain, f"status/{status}")

    assert response.status == status
    assert response.headers["x-echo"] == "yes"


def test_upstream_headers_come_back_repeated_ones_as_lists_hop_by_hop_ones_dropped(
    client: Any, provider: OAuth2Provider, plain: str
) -> None:
    response = forward("plain", plain, "anything")

    assert response.headers["x-echo"] == "yes"
    assert response.headers["x-multi"] == ["one", "two"]
    assert response.headers["content-type"] == "application/json"
    assert "connection" not in response.headers
    assert "content-length" not in response.headers


def test_a_pizzly_setup_id_must_match_the_authentication(client: Any, provider: OAuth2Provider, plain: str) -> None:
    from chalicelib.errors import BadRequest

    setup_id = stored_setup_id(client, "plain", plain)
    assert forward("plain", plain, headers={"Pizzly-Setup-Id": setup_id}).status == 200
    with pytest.raises(BadRequest) as refused:
        forward("plain", plain, headers={"Pizzly-Setup-Id": "another-setup"})
    assert refused.value.error_code == "invalid_setup_id"


def stored_setup_id(client: Any, integration: str, auth_id: str) -> str:
    _, body = call(client, "GET", f"/api/{integration}/authentications/{auth_id}")
    setup_id: str = body["setup_id"]
    return setup_id


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
