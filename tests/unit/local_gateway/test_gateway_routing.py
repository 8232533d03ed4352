"""The gateway's pure helpers: REST resource matching, the binary media type rule, schedule rates."""

from __future__ import annotations

from typing import Any

from chalice import Rate
from chalice.app import Cron, _matches_content_type

from infra.local.gateway import content_type_matches, match_route, parse_rate
from tests.support.gateway_app import app


def test_match_route_precedence_and_decoding() -> None:
    routes: dict[str, dict[str, Any]] = {
        "/": {"GET": 1},
        "/items/{id}": {"GET": 1},
        "/items/special": {"GET": 1},
        "/items/{id}/tags": {"GET": 1},
        "/items/{proxy+}": {"GET": 1},
        "/a/b/c": {"GET": 1},
        "/a/{x}/d": {"GET": 1},
        "/ghost": {},  # what a defaultdict lookup leaves behind: not a resource
    }
    assert match_route(routes, "/") == ("/", {})
    assert match_route(routes, "/items/special") == ("/items/special", {})
    assert match_route(routes, "/items/special/") == ("/items/special", {})
    assert match_route(routes, "/items/7") == ("/items/{id}", {"id": "7"})
    assert match_route(routes, "/items/a%2Fb") == ("/items/{id}", {"id": "a/b"})
    assert match_route(routes, "/items/7/tags") == ("/items/{id}/tags", {"id": "7"})
    assert match_route(routes, "/items/7/x/y%20z") == ("/items/{proxy+}", {"proxy": "7/x/y z"})
    assert match_route(routes, "/a/b/d") == ("/a/{x}/d", {"x": "b"})  # backtracks off the static branch
    assert match_route(routes, "/items") is None
    assert match_route(routes, "/ghost") is None
    assert match_route(routes, "/nope") is None


def test_match_route_is_on_the_resource_and_method_pair() -> None:
    routes: dict[str, dict[str, Any]] = {
        "/{proxy+}": {"GET": 1, "POST": 1},
        "/users/me": {"PATCH": 1},
        "/users/{user_id}": {"GET": 1},
        "/users/{user_id}/keys": {"ANY": 1},
    }
    assert match_route(routes, "/users/me", "PATCH") == ("/users/me", {})
    assert match_route(routes, "/users/me", "GET") == ("/users/{user_id}", {"user_id": "me"})  # the sibling
    assert match_route(routes, "/users/me", "POST") == ("/{proxy+}", {"proxy": "users/me"})  # the root proxy
    assert match_route(routes, "/users/me", "DELETE") is None  # nothing has DELETE: 403
    assert match_route(routes, "/users", "GET") == ("/{proxy+}", {"proxy": "users"})  # a method-less resource
    assert match_route(routes, "/users/7/keys", "DELETE") == ("/users/{user_id}/keys", {"user_id": "7"})


def test_content_type_rule_matches_chalice() -> None:
    samples = [
        "application/octet-stream",
        "APPLICATION/OCTET-STREAM; charset=binary",
        "text/plain",
        "",
        "*/*",
        "image/png, text/html",
        "application/json",
    ]
    for types in (app.api.binary_types, ["application/json"], ["*/*"]):
        for sample in samples:
            assert content_type_matches(sample, types) == _matches_content_type(sample, types), (sample, types)


def test_parse_rate() -> None:
    assert parse_rate("rate(1 minute)") == 60
    assert parse_rate("rate(5 minutes)") == 300
    assert parse_rate(Rate(2, unit=Rate.HOURS)) == 7200
    assert parse_rate("rate(1 day)") == 86400
    assert parse_rate("cron(0 12 * * ? *)") is None
    assert parse_rate(Cron(0, 12, "*", "*", "?", "*")) is None
