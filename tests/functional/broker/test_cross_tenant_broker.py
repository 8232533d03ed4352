"""Credential broker: every customer and runtime route, called with another customer's (or instance's) keys.

Customer A owns a connection granted to its instance; customer B has the same. B's API key on A's
customer path answers 403; B's key on B's own path naming A's connection, grant or instance answers
404; B's instance's proxy key on A's instance answers 401. A's connections, grants, audit trail and
instances read the same afterwards. The operator routes (``/admin/customers…``) are in
``test_cross_tenant_operator.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from tests.support.broker_api import BrokerApi
from tests.support.cross_tenant import Case, Reply, Tenants, assert_table_covers, check_case, tenant_routes

CONNECTIONS = "/v1/customers/{customer_id}/connections"
CONNECTION = CONNECTIONS + "/{connection_id}"
GRANTS = CONNECTION + "/grants"
GRANT = GRANTS + "/{grant_id}"
AUDIT = CONNECTION + "/audit"
FETCH = "/internal/v1/instances/{instance_id}/connections"

NOT_YOURS = {"detail": "This API key does not give access to this customer."}
INVALID_PROXY_KEY = {"detail": "Invalid proxy key"}
NEW_CONNECTION = {"name": "b@example.com", "provider": "deputy", "auth_type": "api_key", "credentials": {"k": "v"}}
NEW_GRANT = {"capabilities": ["read"], "instance_id": "{instance_id}"}
DEPUTY, A_S_DEPUTY = "?provider=deputy", "?provider=deputy&name={connection_name}"

# A's path with B's key: 403. B's own path naming A's connection, grant or instance: 404.
# The runtime: B's proxy key (or B's API key) on A's instance: 401; B's instance asking for A's connection: 404.
TABLE = [
    Case("GET", CONNECTIONS, 403, NOT_YOURS),
    Case("GET", CONNECTIONS, 403, NOT_YOURS, caller="b-x-api-key"),
    Case("POST", CONNECTIONS, 403, NOT_YOURS, body=NEW_CONNECTION),
    Case("DELETE", CONNECTION, 403, NOT_YOURS),
    Case("DELETE", CONNECTION, 404, own=("customer_id",)),
    Case("POST", GRANTS, 403, NOT_YOURS, body=NEW_GRANT, own=("instance_id",)),
    Case("POST", GRANTS, 404, body=NEW_GRANT, own=("customer_id", "instance_id")),
    Case("POST", GRANTS, 404, body=NEW_GRANT, own=("customer_id", "connection_id")),
    Case("DELETE", GRANT, 403, NOT_YOURS),
    Case("DELETE", GRANT, 404, own=("customer_id",)),
    Case("DELETE", GRANT, 404, own=("customer_id", "connection_id")),
    Case("GET", AUDIT, 403, NOT_YOURS),
    Case("GET", AUDIT, 404, own=("customer_id",)),
    Case("GET", FETCH, 401, INVALID_PROXY_KEY, query=DEPUTY, caller="b-instance"),
    Case("GET", FETCH, 401, INVALID_PROXY_KEY, query=DEPUTY, caller="b"),
    Case("GET", FETCH, 404, query=A_S_DEPUTY, own=("instance_id",), caller="b-instance"),
]


class BrokerTenants(Tenants):
    """Customers A and B, each with an instance and a connection granted to it."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.api = BrokerApi(client)
        self.keys: dict[str, str] = {}
        for tenant, resources in (("a", self.a), ("b", self.b)):
            customer = self.api.new_customer(f"{tenant}-customer-name")
            instance = self.api.new_instance(customer["id"], f"{tenant}-instance-name")
            connection = self.api.new_connection(
                customer,
                name=f"{tenant}-mailbox@example.com",
                credentials={"api_key": f"{tenant}-credential-0123456789"},
            )
            grant = self.api.grant(customer, connection["id"], instance["id"], [f"{tenant}-capability"])
            assert grant.status == 201, grant.body
            self.keys[tenant], self.keys[f"{tenant}-instance"] = customer["api_key"], instance["proxy_key"]
            resources.update(
                customer_id=customer["id"],
                instance_id=instance["id"],
                connection_id=connection["id"],
                grant_id=grant.body["id"],
                customer_name=customer["name"],
                instance_name=instance["name"],
                connection_name=connection["name"],
            )
        # A's runtime has fetched once, so A's audit trail is not empty.
        assert self.api.fetch(self.a["instance_id"], self.keys["a-instance"], provider="deputy").status == 200

    def headers(self, caller: str) -> dict[str, str]:
        if caller == "b-x-api-key":
            return {"X-Api-Key": self.keys["b"]}
        return {"Authorization": f"Bearer {self.keys[caller]}"}

    def read_back(self, route: str) -> Any:
        a = self.a
        customer = self.api.admin("GET", f"/customers/{a['customer_id']}")
        instances = self.api.admin("GET", f"/customers/{a['customer_id']}/instances")
        customer_a = {"id": a["customer_id"], "api_key": self.keys["a"]}
        audit = self.api.audit(customer_a, a["connection_id"])
        return {
            "customer": (customer.status, customer.body),
            "instances": (instances.status, instances.body),
            "connections": self.api.connections(customer_a),
            "audit": (audit.status, audit.body),
        }

    def private(self) -> Iterable[str]:
        values = [v for k, v in self.a.items() if isinstance(v, str)]
        return [*values, self.keys["a"], self.keys["a-instance"], "a-credential-0123456789", "a-capability"]

    def is_error(self, reply: Reply) -> bool:
        body = reply.body
        return isinstance(body, dict) and set(body) == {"detail"} and isinstance(body["detail"], str | list)


@pytest.fixture
def tenants(client: Any) -> BrokerTenants:
    return BrokerTenants(client)


def test_every_customer_and_runtime_route_has_a_cross_tenant_case() -> None:
    assert_table_covers(TABLE, tenant_routes("broker"), __file__)


@pytest.mark.parametrize("case", TABLE, ids=[case.id for case in TABLE])
def test_another_customer_cannot_reach_customer_a(tenants: BrokerTenants, case: Case) -> None:
    check_case(tenants, case)
