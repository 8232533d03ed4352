"""Operator routes: every route that is no tenant's, called with each tenant's credentials and with none.

The ``/admin`` routes of the broker, publishing and the entity store, and the integrations API, take
only the operator's secret key (HTTP Basic). A broker customer's API key or instance proxy key, an
Autotune API key, a platform session or token and a GitHub token (each also sent as HTTP Basic, where
the secret key goes) must all get 401 in the operator error body ``{"error": {"type", "message"}}``,
and what the operator reads afterwards must be unchanged. The routes meant for anyone (the OpenAPI
document, the connect flow's pages, the proxy's CORS preflights) answer every caller alike.

The table covers every route of the app outside the four tenant tables, so a route added anywhere
(a new service, a dashboard) fails here until it gets a row.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.functional.publishing.conftest import Api as PublishingApi
from tests.support.broker_api import BrokerApi
from tests.support.cross_tenant import Case, Reply, Tenants, assert_table_covers, check_callers, operator_routes
from tests.support.entities_stack import Platform
from tests.support.github_server import github_stand_in
from tests.support.moto_stack import moto_aws
from tests.support.pizzly import PizzlyApi
from tests.support.repotags_api import chalice_client, use_settings

GITHUB_TOKEN = "ghp_tenantTokenForOperatorRoutes000000001"
PUBLISHABLE_KEY = "pk_cross_tenant_0123456789"
CALLERS = (
    "nobody",
    "customer key",
    "customer key as basic",
    "instance key",
    "autotune key",
    "autotune key as basic",
    "platform session",
    "platform token",
    "github token",
    "github token as basic",
)

CUSTOMER = "/admin/customers/{customer_id}"
INSTANCE = CUSTOMER + "/instances/{instance_id}"
AT_USER, AT_GROUP = "/admin/autotune/users/{user}", "/admin/autotune/groups/{group}"
PF_USER, PF_GROUP = "/admin/platform/users/{login}", "/admin/platform/groups/{name}"
INTEGRATION = "/api/{integration}"
CONFIGURATION = INTEGRATION + "/configurations/{setup_id}"
AUTHENTICATION = INTEGRATION + "/authentications/{auth_id}"
PROXY, PROXY_TAIL = "/proxy/{integration}", "/proxy/{integration}/{proxy+}"
DASH_CUSTOMER = "/dashboard/broker/customers/{customer_id}"
DASH_INSTANCE = DASH_CUSTOMER + "/instances/{instance_id}"
DASH_INTEGRATION = "/dashboard/integrations/{integration}"
DASH_CONFIGURATION = DASH_INTEGRATION + "/configurations/{setup_id}"
DASH_AUTHENTICATION = DASH_INTEGRATION + "/authentications/{auth_id}"
PROXY_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
NAMED = {"name": "intruder"}
NEW_PLATFORM_USER = {"login": "intruder", "password": "intruder-pw", "group": "{name}"}
PAYLOAD = {"accessToken": "intruder-token"}
CREDENTIALS = {"credentials": {"clientId": "intruder", "clientSecret": "intruder-secret"}}
DEFINITION = {"name": "Intruder", "auth": {"authType": "BASIC"}, "request": {"baseURL": "https://example.com/"}}


def page(path: str, body: str = "confirm=yes") -> list[Case]:
    """A dashboard page and its form: GET redirects to sign-in, POST without a session is refused."""
    return [Case("GET", path, 303), Case("POST", path, 403, body=body)]


TABLE = [
    # credential broker
    Case("GET", "/admin/customers", 401),
    Case("POST", "/admin/customers", 401, body=NAMED),
    Case("GET", CUSTOMER, 401),
    Case("DELETE", CUSTOMER, 401),
    Case("POST", CUSTOMER + "/rotate-key", 401),
    Case("GET", CUSTOMER + "/instances", 401),
    Case("POST", CUSTOMER + "/instances", 401, body=NAMED),
    Case("GET", INSTANCE, 401),
    Case("DELETE", INSTANCE, 401),
    Case("POST", INSTANCE + "/rotate-key", 401),
    # publishing
    Case("POST", "/admin/autotune/users", 401, body={"email": "intruder@example.com", "superuser": True}),
    Case("GET", AT_USER, 401),
    Case("PATCH", AT_USER, 401, body={"superuser": True}),
    Case("POST", AT_USER + "/api_key", 401),
    Case("GET", "/admin/autotune/groups", 401),
    Case("POST", "/admin/autotune/groups", 401, body=NAMED),
    Case("GET", AT_GROUP, 401),
    Case("PUT", AT_GROUP + "/members/{user}", 401, body={"role": "designer"}),
    Case("DELETE", AT_GROUP + "/members/{user}", 401),
    # entity store
    Case("GET", "/admin/platform/users", 401),
    Case("POST", "/admin/platform/users", 401, body=NEW_PLATFORM_USER),
    Case("GET", PF_USER, 401),
    Case("PATCH", PF_USER, 401, body={"password": "intruder-pw"}),
    Case("DELETE", PF_USER, 401),
    Case("GET", "/admin/platform/groups", 401),
    Case("POST", "/admin/platform/groups", 401, body=NAMED),
    Case("GET", PF_GROUP, 401),
    Case("DELETE", PF_GROUP, 401),
    # integrations
    Case("GET", "/api", 401),
    Case("GET", INTEGRATION, 401),
    Case("PUT", INTEGRATION, 401, body=DEFINITION),
    Case("DELETE", INTEGRATION, 401),
    Case("GET", INTEGRATION + "/configurations", 401),
    Case("POST", INTEGRATION + "/configurations", 401, body=CREDENTIALS),
    Case("GET", CONFIGURATION, 401),
    Case("PUT", CONFIGURATION, 401, body=CREDENTIALS),
    Case("DELETE", CONFIGURATION, 401),
    Case("GET", INTEGRATION + "/authentications", 401),
    Case("POST", INTEGRATION + "/authentications", 401, body={"setup_id": "{setup_id}", "payload": PAYLOAD}),
    Case("GET", AUTHENTICATION, 401),
    Case("PUT", AUTHENTICATION, 401, body={"payload": PAYLOAD}),
    Case("DELETE", AUTHENTICATION, 401),
    Case("GET", AUTHENTICATION + "/refresh", 401),
    Case("POST", AUTHENTICATION + "/refresh", 401),
    *(Case(method, PROXY, 401) for method in PROXY_METHODS),
    *(Case(method, PROXY_TAIL, 401) for method in PROXY_METHODS),
    # dashboard: without the dashboard's own session a page redirects to sign-in (303) and a form post is refused
    Case("GET", "/dashboard", 303),
    Case("GET", "/dashboard/activity", 303),
    *page("/dashboard/broker", body="name=intruder"),
    *page(DASH_CUSTOMER),
    *page(DASH_CUSTOMER + "/delete"),
    *page(DASH_CUSTOMER + "/rotate-key"),
    *page(DASH_INSTANCE + "/delete"),
    *page(DASH_INSTANCE + "/rotate-key"),
    *page("/dashboard/publishing", body="email=intruder@example.com&superuser=on"),
    *page("/dashboard/publishing/users/{user}", body="superuser=on"),
    *page("/dashboard/publishing/users/{user}/rotate-key"),
    *page("/dashboard/publishing/groups/{group}", body="user={user}&role=designer"),
    *page("/dashboard/publishing/groups/{group}/members/{user}/delete"),
    *page("/dashboard/entities", body="login=intruder&password=intruder-pw&group={name}"),
    *page("/dashboard/entities/users/{login}/delete"),
    *page("/dashboard/entities/groups/{name}/delete"),
    Case("GET", DASH_INTEGRATION, 303),
    *page(DASH_INTEGRATION + "/definition"),
    *page(DASH_INTEGRATION + "/definition/delete"),
    *page("/dashboard/new-integration"),
    Case("POST", DASH_INTEGRATION + "/configurations", 403, body="client_id=intruder&client_secret=intruder"),
    Case("POST", DASH_CONFIGURATION, 403, body="client_id=intruder&client_secret=intruder"),
    *page(DASH_CONFIGURATION + "/delete"),
    Case("GET", DASH_AUTHENTICATION, 303),
    Case("POST", DASH_AUTHENTICATION + "/reveal", 403),
    Case("POST", DASH_AUTHENTICATION + "/refresh", 403),
    *page(DASH_AUTHENTICATION + "/delete"),
    Case("POST", "/dashboard/sign-out", 403),
    # one caller only: the body carries the tenant's key, and wrong keys lock sign-in after five
    Case("POST", "/dashboard/sign-in", 401, body="secret_key={customer_key}", caller="customer key"),
    # for anyone: the same answer whoever calls
    Case("GET", "/dashboard/sign-in", 200),
    Case("GET", "/dashboard/static/{name}", 200),
    Case("OPTIONS", PROXY, 204),
    Case("OPTIONS", PROXY_TAIL, 204),
    Case("GET", "/auth/{integration}", 401),  # the connect page: the publishable key is required
    Case("GET", "/auth/callback", 400),  # the connect page: no state
    Case("GET", "/openapi.json", 200),
]


def basic(username: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:".encode()).decode()


class OperatorTenants(Tenants):
    """What the operator manages (A: a customer with an instance, Autotune and platform accounts, an
    integration's configuration and authentication) and one tenant of each service holding credentials."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        broker, autotune, platform, pizzly = (
            BrokerApi(client),
            PublishingApi(client),
            Platform(client),
            PizzlyApi(client),
        )
        customer = broker.new_customer("operator-managed-customer")
        instance = broker.new_instance(customer["id"], "operator-managed-instance")
        group = autotune.group("Operator Managed Group")
        user = autotune.user("operator-managed-user", groups={group: "designer"})
        platform.add_user("operator-managed-login", "operator-managed-group")
        setup = pizzly.configuration("github", secret="operator-managed-client-secret")
        auth = pizzly.post(
            "/api/github/authentications",
            {"setup_id": setup["id"], "payload": {"accessToken": "operator-managed-token"}},
        )
        assert auth.status == 201, auth.body
        self.a.update(
            customer_id=customer["id"],
            instance_id=instance["id"],
            group=group,
            user=user,
            login="operator-managed-login",
            name="operator-managed-group",
            integration="github",
            setup_id=setup["id"],
            auth_id=auth.body["authentication"]["id"],
            proxy="tail",
            customer_key=customer["api_key"],
        )
        self.b = dict(self.a)
        repotags = self.call("GET", "/api/v1/users", {"X-Github-Token": GITHUB_TOKEN})
        assert repotags.status == 200, repotags.text
        session, token = platform.sign_in("operator-managed-login"), platform.token("operator-managed-login")
        self.keys = {"customer": customer["api_key"], "autotune": autotune.keys["operator-managed-user"]}
        self.credentials: dict[str, dict[str, str]] = {
            "nobody": {},
            "customer key": {"Authorization": f"Bearer {customer['api_key']}"},
            "customer key as basic": {"Authorization": basic(customer["api_key"])},
            "instance key": {"Authorization": f"Bearer {instance['proxy_key']}"},
            "autotune key": {"Authorization": f"API-KEY auth={self.keys['autotune']}"},
            "autotune key as basic": {"Authorization": basic(self.keys["autotune"])},
            "platform session": session,
            "platform token": token,
            "github token": {"X-Github-Token": GITHUB_TOKEN},
            "github token as basic": {"Authorization": basic(GITHUB_TOKEN)},
            "operator": {"Authorization": basic(TEST_SECRET_KEY)},
        }

    def resources(self, tenant: str, path: str) -> dict[str, Any]:
        """``{name}`` is the platform group, except in the dashboard's static files."""
        values = super().resources(tenant, path)
        if path.startswith("/dashboard/static/"):
            values["name"] = "dashboard.css"
        return values

    def headers(self, caller: str) -> dict[str, str]:
        return self.credentials[caller]

    def read_back(self, route: str) -> Any:
        """What the operator (and each tenant, with its credentials) reads of the service owning ``route``."""
        a = self.a
        if "/customers" in route or route.startswith("/dashboard/broker"):
            reads = [
                "/admin/customers",
                f"/admin/customers/{a['customer_id']}",
                f"/admin/customers/{a['customer_id']}/instances",
            ]
            tenant = ("customer key", f"/v1/customers/{a['customer_id']}/connections")
        elif route.startswith(("/admin/autotune", "/dashboard/publishing")):
            reads = [
                "/admin/autotune/groups",
                f"/admin/autotune/groups/{a['group']}",
                f"/admin/autotune/users/{a['user']}",
            ]
            tenant = ("autotune key", "/themes")
        elif route.startswith(("/admin/platform", "/dashboard/entities")):
            reads = ["/admin/platform/users", "/admin/platform/groups", f"/admin/platform/users/{a['login']}"]
            tenant = ("platform session", "/api/v1/auth")
        else:
            reads = ["/api", "/api/github/configurations", f"/api/github/authentications/{a['auth_id']}"]
            tenant = ("github token", "/api/v1/users")
        seen = {path: self.ok("operator", "GET", path) for path in reads}
        caller, path = tenant
        seen[f"{caller}: {path}"] = self.ok(caller, "GET", path)
        return seen

    def private(self) -> Iterable[str]:
        return [
            "operator-managed-customer",
            "operator-managed-instance",
            "operator-managed-user@example.com",
            "operator-managed-client-secret",
            "operator-managed-token",
            self.keys["customer"],
            self.keys["autotune"],
            TEST_SECRET_KEY,
        ]

    def is_error(self, reply: Reply) -> bool:
        if reply.text.startswith("<!doctype html>"):  # the connect flow's and the dashboard's pages
            return any(mark in reply.text for mark in ("The connection failed", "Error code: <code>", 'role="alert"'))
        error = reply.body.get("error") if isinstance(reply.body, dict) and set(reply.body) == {"error"} else None
        return isinstance(error, dict) and set(error) == {"type", "message"}


@contextmanager
def every_service_aws() -> Iterator[None]:
    """The root ``aws_env`` for a whole module: moto with every table, the key and the buckets."""
    from infra.local.bootstrap import bootstrap

    with moto_aws(bootstrap):
        yield


@pytest.fixture(scope="module")
def tenants() -> Iterator[OperatorTenants]:
    """One world for the whole table: no row may change anything."""
    from chalicelib.settings import clear_settings

    try:
        with pytest.MonkeyPatch.context() as env, github_stand_in() as github:
            github.accept(GITHUB_TOKEN, 4242)
            use_settings(env, GITHUB_API_URL=github.url, PUBLISHABLE_KEY=PUBLISHABLE_KEY)
            with every_service_aws(), chalice_client() as client:
                yield OperatorTenants(client)
    finally:
        clear_settings()


def test_every_operator_and_public_route_has_a_case() -> None:
    assert_table_covers(TABLE, operator_routes(), __file__)


@pytest.mark.parametrize("case", TABLE, ids=[case.id.replace(" as b", "") for case in TABLE])
def test_tenant_credentials_do_not_open_operator_routes(tenants: OperatorTenants, case: Case) -> None:
    check_callers(tenants, case, [case.caller] if case.caller in CALLERS else CALLERS)
