"""Entity store: every platform route, called by a user of another group (session cookie or token).

Ann (group ops, A) owns an entity shared with nobody; Bob (group sales, B) owns one too. Bob gets the
documented 403 on Ann's entity (read, change, delete), lists without it (counts included), cannot
sign in as Ann with his password, and his sign-out ends only his own session. Ann reads her entity,
her list and her sessions back unchanged. The operator routes (``/admin/platform…``) are in
``tests/functional/cross_cutting/test_cross_tenant_operator.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from tests.support.cross_tenant import Case, Reply, Tenants, assert_table_covers, check_case, tenant_routes
from tests.support.entities_stack import PASSWORD, PLATFORM_401, PLATFORM_403, Platform

STORE, ENTITY = "/api/v1/{store}", "/api/v1/{store}/{entity_id}"
AS_ANN_WITH_BOBS_PASSWORD = {"login": "{login}", "password": "bobs-own-password"}

TABLE = [
    Case("GET", "/api/v1/auth", 200),
    Case("GET", "/api/v1/auth", 401, PLATFORM_401, caller="nobody"),
    Case("POST", "/api/v1/auth", 401, PLATFORM_401, body=AS_ANN_WITH_BOBS_PASSWORD, caller="nobody"),
    Case("POST", "/api/v1/auth/token", 401, PLATFORM_401, body=AS_ANN_WITH_BOBS_PASSWORD, caller="nobody"),
    Case("POST", "/api/v1/auth/logout", 200),
    Case("POST", "/api/v1/auth/logout", 200, caller="b-token"),
    Case("GET", STORE, 200),
    Case("GET", STORE, 200, query="?meta=true", caller="b-token"),
    Case("POST", STORE, 200, body={"note": "bob's own"}),
    Case("GET", ENTITY, 403, PLATFORM_403),
    Case("GET", ENTITY, 403, PLATFORM_403, caller="b-token"),
    Case("PATCH", ENTITY, 403, PLATFORM_403, body={"note": "taken over"}),
    Case("DELETE", ENTITY, 403, PLATFORM_403),
]


class EntityTenants(Tenants):
    """Ann (group ops) and Bob (group sales), each with a signed-in session, a token and an entity."""

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform.client)
        self.credentials: dict[str, dict[str, str]] = {"nobody": {}}
        for tenant, resources, login, group, password in (
            ("a", self.a, "ann-of-ops", "ops", PASSWORD),
            ("b", self.b, "bob-of-sales", "sales", "bobs-own-password"),
        ):
            user = platform.add_user(login, group, password)
            self.credentials[tenant] = platform.sign_in(login, password)
            self.credentials[f"{tenant}-token"] = platform.token(login, password)
            entity = self.ok(tenant, "POST", "/api/v1/things", {"note": f"{tenant}-private-note"})
            resources.update(store="things", entity_id=entity["_id"], login=login, user_id=user["_id"], group=group)

    def headers(self, caller: str) -> dict[str, str]:
        return self.credentials[caller]

    def read_back(self, route: str) -> Any:
        entity = f"/api/v1/things/{self.a['entity_id']}"
        return {
            "me": self.ok("a", "GET", "/api/v1/auth"),
            "me by token": self.ok("a-token", "GET", "/api/v1/auth"),
            "entity": self.ok("a", "GET", entity),
            "list": self.ok("a-token", "GET", "/api/v1/things"),
        }

    def private(self) -> Iterable[str]:
        secrets = [self.credentials["a"]["Cookie"].split("=", 1)[1], self.credentials["a-token"]["Authorization"][7:]]
        return [self.a["entity_id"], self.a["login"], self.a["user_id"], "a-private-note", *secrets]

    def is_error(self, reply: Reply) -> bool:
        status, body = reply.status, reply.body
        return isinstance(body, dict) and body.get("success") is False and body.get("code") == str(status)


@pytest.fixture
def tenants(platform: Platform) -> EntityTenants:
    return EntityTenants(platform)


def test_every_platform_route_has_a_cross_tenant_case() -> None:
    assert_table_covers(TABLE, tenant_routes("entities"), __file__)


@pytest.mark.parametrize("case", TABLE, ids=[case.id for case in TABLE])
def test_a_user_of_another_group_cannot_reach_user_a(tenants: EntityTenants, case: Case) -> None:
    check_case(tenants, case)
