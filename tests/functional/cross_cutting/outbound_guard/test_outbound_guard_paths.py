"""The outbound guard on what an authentication carries into a URL: proxy paths that try to leave the
integration's base path, and imported connect parameters (the connect flow's rules, checked when stored,
on update and again by the proxy). The peer is a real local server on 127.0.0.1 (see this folder's
conftest.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.support.http_peer import HttpPeer
from tests.support.outbound_guard import definition, registered, route, secret_key
from tests.support.pizzly import PizzlyApi, stored_authentication

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
