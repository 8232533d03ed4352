"""No response of the customer API and no log line carries a stored credential."""

from __future__ import annotations

import base64
import logging
import uuid
from typing import Any

import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.support.broker_api import BrokerApi, custom_integration
from tests.support.oauth_server import OAuthServer

OPERATOR = {"Authorization": "Basic " + base64.b64encode(f"{TEST_SECRET_KEY}:".encode()).decode()}


def test_stored_credentials_appear_in_no_customer_response_and_no_log_line(
    client: Any, provider: OAuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api = BrokerApi(client)
    marker = uuid.uuid4().hex
    secrets = {
        "api_key": f"apikey-{marker}",
        "password": f"password-{marker}",
        "access_token": f"access-{marker}",
        "refresh_token": f"refresh-{marker}",
        "client_secret": f"clientsecret-{marker}",
    }
    assert api.request("PUT", "/api/leakcheck", custom_integration(provider.token_url), headers=OPERATOR).status == 201
    customer = api.new_customer()
    instance = api.new_instance(customer["id"])
    connections = [
        api.new_connection(customer, provider="deputy", credentials={"api_key": secrets["api_key"]}),
        api.new_connection(
            customer, provider="smtp", auth_type="basic", credentials={"username": "u", "password": secrets["password"]}
        ),
        api.new_connection(
            customer,
            provider="leakcheck",
            auth_type="oauth2",
            credentials={
                "access_token": secrets["access_token"],
                "refresh_token": secrets["refresh_token"],
                "client_id": "cid",
                "client_secret": secrets["client_secret"],
                "expires_in": 60,
            },
        ),
    ]
    for connection in connections:
        assert api.grant(customer, connection["id"], instance["id"], ["use"]).status == 201
    # Every customer API route, successes and refusals alike.
    bad = api.customer(customer["api_key"], "POST", f"/{customer['id']}/connections", {"credentials": secrets})
    assert bad.status == 422
    api.connections(customer)
    for connection in connections:
        api.audit(customer, connection["id"])

    fetched = {}
    for name in ("deputy", "smtp", "leakcheck"):
        answer = api.fetch(instance["id"], instance["proxy_key"], provider=name, capability="use")
        assert answer.status == 200, answer.body
        fetched[name] = answer.body["credentials"]
    assert fetched["deputy"]["api_key"] == secrets["api_key"]
    assert fetched["leakcheck"]["access_token"] == "access-1"  # refreshed on the way
    provider.fail_with(400, {"error": "invalid_grant"})
    api.request("POST", "/api/leakcheck/configurations", {"credentials": {"clientId": "c", "clientSecret": "s" * 12}})
    api.connections(customer)
    for connection in connections:
        api.audit(customer, connection["id"])
        api.customer(customer["api_key"], "DELETE", f"/{customer['id']}/connections/{connection['id']}")

    customer_answers = [answer.raw.decode() for path, answer in api.answers if path.startswith("/v1/")]
    assert customer_answers
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records, "DEBUG logging captured nothing"
    for value in [*secrets.values(), "access-1"]:
        for text in customer_answers:
            assert value not in text
        assert value not in logged, value
