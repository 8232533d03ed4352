"""Fixtures of the credential broker's tests: one moto AWS per module (the broker's tables), emptied per
test, the API client, a customer, and a local OAuth 2 token endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.broker_api import BrokerApi
from tests.support.broker_stack import broker_aws, empty_broker_tables
from tests.support.oauth_server import OAuthServer


@pytest.fixture(scope="module")
def broker_module() -> Iterator[None]:
    """moto with the broker's tables and the KMS key, shared by the tests of one module."""
    with broker_aws():
        yield


@pytest.fixture
def aws_env(broker_module: None) -> None:
    """Overrides the root fixture (which the root ``client`` fixture uses): the module's AWS, emptied."""
    empty_broker_tables()


@pytest.fixture
def api(client: Any) -> BrokerApi:
    return BrokerApi(client)


@pytest.fixture
def customer(api: BrokerApi) -> dict[str, Any]:
    return api.new_customer()


@pytest.fixture
def provider() -> Iterator[OAuthServer]:
    """A local OAuth 2 token endpoint."""
    server = OAuthServer().start()
    yield server
    server.stop()
