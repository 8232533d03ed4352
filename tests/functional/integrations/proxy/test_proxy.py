"""The proxy forwards calls to the provider's API with the stored credentials (real OAuth 1 and 2 providers).

The Chalice test client does not route greedy ``{proxy+}`` paths (API Gateway does), so calls with a
path tail go through ``chalicelib.integrations.proxy.forward``, the function the view calls, and the
route itself is exercised on its non-greedy base, ``/proxy/{integration}``. Tokens refreshed around a
call and OAuth 1.0a signatures are in test_proxy_tokens.py; the fixtures are in this folder's conftest.py.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest

from tests.support.connect_flow import call, secret_key_header
from tests.support.moto_stack import set_env
from tests.support.oauth2_provider import BINARY_BODY, OAuth2Provider
from tests.support.proxy_calls import echoed, forward, stored_payload

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
