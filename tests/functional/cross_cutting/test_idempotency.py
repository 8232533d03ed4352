"""Creates with an Idempotency-Key run once per key: a retried create replays the first answer."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.support.broker_api import BrokerApi
from tests.support.kms import kms_unreachable
from tests.support.moto_stack import Models
from tests.support.pizzly import PizzlyApi


def _models() -> list[Any]:
    from chalicelib.broker.models import Connection, Customer, Grant, Instance
    from chalicelib.idempotency.models import IdempotencyRecord
    from chalicelib.integrations.models import Authentication
    from chalicelib.oauth.models import Configuration, CustomIntegration

    return [CustomIntegration, Configuration, Authentication, Customer, Instance, Connection, Grant, IdempotencyRecord]


@pytest.fixture(scope="module")
def integrations_models() -> Models:
    """The integrations' and the broker's tables, and the idempotency records."""
    return _models


@pytest.fixture
def aws_env(integrations_env: None) -> None:
    """Overrides the root fixture (which the root ``client`` fixture uses): the module's AWS, emptied."""


@pytest.fixture
def pizzly(client: Any) -> PizzlyApi:
    return PizzlyApi(client)


@pytest.fixture
def broker(client: Any) -> BrokerApi:
    return BrokerApi(client)


SECRET = "Basic " + base64.b64encode(f"{TEST_SECRET_KEY}:".encode()).decode()
CONFIGURATION = {"credentials": {"clientId": "client-1", "clientSecret": "secret-1"}, "scopes": ["repo"]}


def _configurations() -> list[Any]:
    from chalicelib.oauth.models import Configuration

    return list(Configuration.scan())


def _customers() -> list[Any]:
    from chalicelib.broker.models import Customer

    return list(Customer.scan())


def test_a_retried_create_with_the_same_key_replays_the_first_answer_and_creates_nothing_more(
    pizzly: PizzlyApi,
) -> None:
    key = {"Idempotency-Key": "create-config-0001"}

    first = pizzly.post("/api/github/configurations", CONFIGURATION, headers=key)
    again = pizzly.post("/api/github/configurations", CONFIGURATION, headers=key)

    assert first.status == again.status == 201
    assert again.raw == first.raw
    assert again.header("Content-Type") == first.header("Content-Type")
    assert again.header("Idempotent-Replayed") == "true" and first.header("Idempotent-Replayed") is None
    assert [c.id for c in _configurations()] == [first.body["configuration"]["id"]]


def test_a_secret_shown_once_is_replayed_to_the_same_caller_and_stored_sealed(broker: BrokerApi) -> None:
    from chalicelib.idempotency.models import IdempotencyRecord

    headers = {"Authorization": SECRET, "Idempotency-Key": "new-customer-acme"}

    first = broker.request("POST", "/admin/customers", {"name": "Acme"}, headers=headers)
    again = broker.request("POST", "/admin/customers", {"name": "Acme"}, headers=headers)

    assert first.status == again.status == 201
    assert again.body == first.body and first.body["api_key"]
    assert len(_customers()) == 1
    (record,) = list(IdempotencyRecord.scan())
    assert first.body["api_key"].encode() not in bytes(record.response)
    assert "new-customer-acme" not in record.id


def test_another_caller_with_the_same_key_gets_its_own_create(broker: BrokerApi) -> None:
    acme, globex = broker.new_customer("Acme"), broker.new_customer("Globex")
    body = {"name": "ops@example.com", "provider": "deputy", "auth_type": "api_key", "credentials": {"api_key": "k"}}

    def create(customer: dict[str, Any]) -> Any:
        headers = {"Authorization": f"Bearer {customer['api_key']}", "Idempotency-Key": "same-key"}
        return broker.request("POST", f"/v1/customers/{customer['id']}/connections", body, headers=headers)

    mine, theirs, mine_again = create(acme), create(globex), create(acme)

    assert (mine.status, theirs.status, mine_again.status) == (201, 201, 201)
    assert theirs.body["id"] != mine.body["id"]
    assert mine_again.body == mine.body
    assert [c["id"] for c in broker.connections(acme)] == [mine.body["id"]]
    assert [c["id"] for c in broker.connections(globex)] == [theirs.body["id"]]


def test_the_same_key_with_another_body_is_422_in_the_services_error_body(pizzly: PizzlyApi, broker: BrokerApi) -> None:
    key = {"Idempotency-Key": "k-1"}
    assert pizzly.post("/api/github/configurations", CONFIGURATION, headers=key).status == 201

    reused = pizzly.post("/api/github/configurations", {**CONFIGURATION, "scopes": ["user"]}, headers=key)

    assert reused.status == 422
    assert reused.error()[0] == "idempotency_key_reused"
    assert len(_configurations()) == 1
    acme = broker.new_customer("Acme")
    headers = {"Authorization": f"Bearer {acme['api_key']}", "Idempotency-Key": "k-1"}
    path = f"/v1/customers/{acme['id']}/connections"
    body = {"name": "a", "provider": "deputy", "auth_type": "api_key", "credentials": {"api_key": "k"}}
    assert broker.request("POST", path, body, headers=headers).status == 201
    refused = broker.request("POST", path, {**body, "name": "b"}, headers=headers)
    assert refused.status == 422 and isinstance(refused.body["detail"], str)


def test_a_refused_create_frees_its_key(pizzly: PizzlyApi) -> None:
    key = {"Idempotency-Key": "fix-and-retry"}

    refused = pizzly.post("/api/github/configurations", {"credentials": {"clientId": "only-an-id"}}, headers=key)
    fixed = pizzly.post("/api/github/configurations", CONFIGURATION, headers=key)

    assert refused.status in (400, 422)
    assert fixed.status == 201
    assert len(_configurations()) == 1


def test_a_create_whose_outcome_is_unknown_keeps_its_key_so_a_retry_cannot_duplicate(pizzly: PizzlyApi) -> None:
    key = {"Idempotency-Key": "outage-0001"}
    with kms_unreachable():
        failed = pizzly.post("/api/github/configurations", CONFIGURATION, headers=key)

    retried = pizzly.post("/api/github/configurations", CONFIGURATION, headers=key)
    with_new_key = pizzly.post("/api/github/configurations", CONFIGURATION, headers={"Idempotency-Key": "outage-0002"})

    assert failed.status == 503
    assert retried.status == 409
    assert retried.error()[0] == "idempotency_key_in_progress"
    assert int(retried.header("Retry-After") or 0) > 0
    assert with_new_key.status == 201
    assert len(_configurations()) == 1


@pytest.mark.parametrize("bad", ["", "x" * 256, "naïve", "tab\there"])
def test_a_malformed_key_is_400(pizzly: PizzlyApi, bad: str) -> None:
    answer = pizzly.post("/api/github/configurations", CONFIGURATION, headers={"Idempotency-Key": bad})

    assert answer.status == 400
    assert answer.error()[0] == "invalid_idempotency_key"
    assert _configurations() == []


def test_without_a_key_every_create_runs(pizzly: PizzlyApi) -> None:
    pizzly.post("/api/github/configurations", CONFIGURATION)
    pizzly.post("/api/github/configurations", CONFIGURATION)

    assert len(_configurations()) == 2


# Every POST route that is not a create, and why a repeat is harmless there; a new POST route must be
# listed here or among the create routes the services declare (chalicelib/<service>/declaration.py).
NOT_CREATES = {
    "/admin/autotune/users/{user}/api_key": "rotates a key: a repeat rotates again, the last key shown works",
    "/admin/customers/{customer_id}/rotate-key": "rotates a key: a repeat rotates again, the last key shown works",
    "/admin/customers/{customer_id}/instances/{instance_id}/rotate-key": "rotates a key, as above",
    "/api/v1/auth": "signs in: a repeat opens another session",
    "/api/v1/auth/logout": "signs out: a repeat finds the session gone",
    "/api/v1/auth/token": "issues a token: a repeat issues another",
    "/api/v1/tag/{tag_id}/repo/{repo_id}": "one association per (tag, repo), settled by a conditional write",
    "/api/{integration}/authentications/{auth_id}/refresh": "coalesced: a repeat within the window returns the last",
    "/proxy/{integration}": "forwards to the provider: not ours to deduplicate",
    "/proxy/{integration}/{proxy+}": "forwards to the provider: not ours to deduplicate",
}


def test_every_post_route_is_a_keyed_create_or_listed_as_not_a_create() -> None:
    from app import app
    from chalicelib.services import create_routes

    create_paths = create_routes()

    posts = {
        path
        for path, methods in app.routes.items()
        if "POST" in methods
        and not methods["POST"].view_name.startswith("method_not_allowed_")
        and methods["POST"].view_name not in ("not_found", "root_not_found")
        and not path.startswith("/dashboard")  # browser forms, each carrying a one-time form token
    }

    assert posts - create_paths - set(NOT_CREATES) == set()
    assert posts >= create_paths
