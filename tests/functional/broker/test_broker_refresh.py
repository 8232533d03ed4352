"""OAuth 2 connections are refreshed through the one refresh function, against a real local token endpoint."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.support.broker_api import BrokerApi, custom_integration
from tests.support.oauth_server import OAuthServer

PROVIDER = "localprov"
OPERATOR = {"Authorization": "Basic " + base64.b64encode(f"{TEST_SECRET_KEY}:".encode()).decode()}


@pytest.fixture
def api(api: BrokerApi, provider: OAuthServer) -> BrokerApi:
    """The conftest's client, with the local provider registered as an integration."""
    registered = api.request("PUT", f"/api/{PROVIDER}", custom_integration(provider.token_url), headers=OPERATOR)
    assert registered.status == 201, registered.body
    return api


@pytest.fixture
def world(api: BrokerApi) -> dict[str, Any]:
    customer = api.new_customer()
    return {"customer": customer, "instance": api.new_instance(customer["id"])}


def _oauth2(api: BrokerApi, world: dict[str, Any], **credentials: Any) -> dict[str, Any]:
    """An OAuth 2 connection of the local provider, granted to the world's instance with send_mail."""
    values = {"access_token": "old-access", "refresh_token": "old-refresh", "client_id": "cid", "client_secret": "cs"}
    values.update(credentials)
    values = {k: v for k, v in values.items() if v is not None}
    connection = api.new_connection(
        world["customer"], provider=PROVIDER, name="mailbox", auth_type="oauth2", credentials=values
    )
    assert api.grant(world["customer"], connection["id"], world["instance"]["id"], ["send_mail"]).status == 201
    return connection


def _fetch(api: BrokerApi, world: dict[str, Any]) -> Any:
    return api.fetch(world["instance"]["id"], world["instance"]["proxy_key"], provider=PROVIDER, capability="send_mail")


def _stored(world: dict[str, Any], connection: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    from chalicelib.broker.models import Connection
    from chalicelib.broker.refresh_store import credentials_of

    item = Connection.get(world["customer"]["id"], connection["id"], consistent_read=True)
    return item, credentials_of(item)


def test_an_expiring_connection_is_refreshed_before_it_is_returned(
    api: BrokerApi, world: dict[str, Any], provider: OAuthServer
) -> None:
    connection = _oauth2(api, world, expires_in=60)
    answer = _fetch(api, world)
    assert answer.status == 200, answer.body
    assert answer.body["credentials"] == {
        "access_token": "access-1",
        "refresh_token": "old-refresh",
        "client_id": "cid",
        "client_secret": "cs",
        "token_type": "bearer",
    }
    assert provider.calls() == 1
    sent = provider.last().body
    assert sent["grant_type"] == "refresh_token" and sent["refresh_token"] == "old-refresh"
    assert (sent["client_id"], sent["client_secret"]) == ("cid", "cs")
    shown = api.connection(world["customer"], connection["id"])
    assert shown["status"] == "active" and shown["error_message"] is None
    assert shown["expires_at"] > connection["expires_at"]

    again = _fetch(api, world)  # the grant's copy was rewritten with the refresh: no second provider call
    assert again.body["credentials"]["access_token"] == "access-1"
    assert provider.calls() == 1
    outcomes = [e["outcome"] for e in api.audit(world["customer"], connection["id"]).body["entries"]]
    assert outcomes == ["granted", "refreshed"]


def test_a_rotated_refresh_token_is_stored_and_used_next_time(
    api: BrokerApi, world: dict[str, Any], provider: OAuthServer
) -> None:
    provider.rotate = True
    provider.expires_in = 60  # inside the refresh buffer: every fetch refreshes
    _oauth2(api, world, expires_in=60)
    assert _fetch(api, world).body["credentials"]["refresh_token"] == "refresh-1"
    second = _fetch(api, world)
    assert second.body["credentials"]["access_token"] == "access-2"
    assert provider.last().body["refresh_token"] == "refresh-1"


def test_a_fresh_connection_is_returned_without_calling_the_provider(
    api: BrokerApi, world: dict[str, Any], provider: OAuthServer
) -> None:
    _oauth2(api, world, expires_in=7200)
    assert _fetch(api, world).body["credentials"]["access_token"] == "old-access"
    assert provider.calls() == 0


def test_client_credentials_can_come_from_the_latest_pizzly_configuration(
    api: BrokerApi, world: dict[str, Any], provider: OAuthServer
) -> None:
    for client_id in ("older-client-id", "newer-client-id"):
        body = {"credentials": {"clientId": client_id, "clientSecret": client_id + "-secret"}}
        assert api.request("POST", f"/api/{PROVIDER}/configurations", body, headers=OPERATOR).status == 201
        time.sleep(0.002)
    _oauth2(api, world, client_id=None, client_secret=None, expires_in=60)
    assert _fetch(api, world).status == 200
    assert (provider.last().body["client_id"], provider.last().body["client_secret"]) == (
        "newer-client-id",
        "newer-client-id-secret",
    )


def test_a_refused_refresh_answers_502_and_keeps_the_old_credentials(
    api: BrokerApi, world: dict[str, Any], provider: OAuthServer
) -> None:
    connection = _oauth2(api, world, expires_in=60)
    provider.fail_with(400, {"error": "invalid_grant", "error_description": "Token has been revoked"})
    answer = _fetch(api, world)
    assert answer.status == 502
    detail = answer.detail()
    assert "could not be refreshed" in detail and "invalid_grant (Token has been revoked)" in detail
    assert "reconnect_required" in detail and "stored credentials were kept" in detail
    shown = api.connection(world["customer"], connection["id"])
    assert shown["status"] == "reconnect_required"
    assert "invalid_grant" in shown["error_message"]
    item, stored = _stored(world, connection)
    assert stored["access_token"] == "old-access" and stored["refresh_token"] == "old-refresh"
    assert item.due_shard is None and item.refresh_due_at is None  # the sweep gives up on it

    # The old token is still valid for a minute: handed out, without asking the provider again.
    calls = provider.calls()
    assert _fetch(api, world).body["credentials"]["access_token"] == "old-access"
    assert provider.calls() == calls
    outcomes = [e["outcome"] for e in api.audit(world["customer"], connection["id"]).body["entries"]]
    assert outcomes == ["granted", "refresh_failed"]


def test_a_failing_provider_sets_status_error_and_backs_off(
    api: BrokerApi, world: dict[str, Any], provider: OAuthServer
) -> None:
    connection = _oauth2(api, world, expires_in=60)
    provider.fail_with(503, {})
    assert _fetch(api, world).status == 502
    item, _ = _stored(world, connection)
    assert item.status == "error" and item.next_attempt_at is not None
    assert item.refresh_due_at == item.next_attempt_at and item.due_shard is not None  # the sweep retries it
    provider.reset()
    assert _fetch(api, world).body["credentials"]["access_token"] == "old-access"  # still valid, backing off
    assert provider.calls() == 0


def test_expired_credentials_that_cannot_be_refreshed_are_502(api: BrokerApi, world: dict[str, Any]) -> None:
    connection = _oauth2(api, world, refresh_token=None, expires_at="2020-01-01T00:00:00Z")
    answer = _fetch(api, world)
    assert answer.status == 502
    assert answer.detail() == (
        "The connection's access token expired at 2020-01-01T00:00:00.000Z and cannot be refreshed: "
        "it has no refresh token"
    )
    entries = api.audit(world["customer"], connection["id"]).body["entries"]
    assert [(e["outcome"], e["status_code"]) for e in entries] == [("expired", 502)]


def test_an_expired_connection_the_provider_refuses_stays_502(
    api: BrokerApi, world: dict[str, Any], provider: OAuthServer
) -> None:
    _oauth2(api, world, expires_at="2020-01-01T00:00:00Z")
    provider.fail_with(400, {"error": "invalid_grant"})
    assert _fetch(api, world).status == 502
    second = _fetch(api, world)
    assert second.status == 502
    assert "expired" in second.detail() and "invalid_grant" in second.detail()


def test_connections_keep_the_refresh_due_index_shape(api: BrokerApi, world: dict[str, Any]) -> None:
    refreshable = _oauth2(api, world, expires_in=7200)
    item, _ = _stored(world, refreshable)
    assert item.due_shard is not None and item.due_shard.startswith("due#")
    assert item.refresh_due_at == item.expires_at - 15 * 60 * 1000
    keyed = api.new_connection(world["customer"])
    plain, _ = _stored(world, keyed)
    assert plain.due_shard is None and plain.refresh_due_at is None


def test_the_scheduled_sweep_refreshes_broker_connections(
    api: BrokerApi, world: dict[str, Any], provider: OAuthServer
) -> None:
    from chalicelib.broker.refresh_store import SWEEP_SOURCE
    from chalicelib.jobs import refresh_sweep

    connection = _oauth2(api, world, expires_in=60)
    _oauth2_other = api.new_connection(world["customer"], name="not refreshable")
    report = refresh_sweep.run(lambda: 10**6, only=[SWEEP_SOURCE])
    assert report.refreshed == 1 and report.failed == 0
    assert provider.calls() == 1
    assert _fetch(api, world).body["credentials"]["access_token"] == "access-1"
    assert provider.calls() == 1
    assert api.connection(world["customer"], connection["id"])["status"] == "active"
    assert _oauth2_other["status"] == "active"


def test_a_sweep_refresh_of_a_connection_makes_two_dynamodb_calls(
    api: BrokerApi, world: dict[str, Any], provider: OAuthServer
) -> None:
    from chalicelib.broker.models import Connection
    from chalicelib.broker.refresh_store import SWEEP_SOURCE
    from chalicelib.jobs import refresh_sweep
    from tests.support.aws_calls import counting_dynamodb_calls, on_table

    due = 3
    for n in range(due):
        connection = api.new_connection(
            world["customer"],
            provider=PROVIDER,
            name=f"mailbox-{n}",
            auth_type="oauth2",
            credentials={"access_token": "old", "refresh_token": f"r{n}", "client_id": "cid", "client_secret": "cs"}
            | {"expires_in": 60},
        )
        assert api.grant(world["customer"], connection["id"], world["instance"]["id"], ["send_mail"]).status == 201

    with counting_dynamodb_calls() as calls:
        report = refresh_sweep.run(lambda: 10**6, only=[SWEEP_SOURCE])

    assert (report.refreshed, report.failed) == (due, 0)
    assert provider.calls() == due
    connections = on_table(calls, Connection.Meta.table_name)
    connections.pop("Query")  # the due index: the sweep's, not a refresh's
    # The lease, then one transaction rewriting the connection and its grant's copy.
    assert connections == {"UpdateItem": due, "TransactWriteItems": due}
    assert sum(connections.values()) / due == 2
