"""Fixtures of the OAuth 2 connect-flow tests: the module's moto with the connect flow's tables, a real
authorization server on a loopback port, and an authorization-code integration on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.connect_flow import CALLBACK, CLIENT_ID, CLIENT_SECRET
from tests.support.moto_stack import Models, connect_flow_models
from tests.support.oauth2_connect import register
from tests.support.oauth2_provider import OAuth2Provider


@pytest.fixture(scope="module")
def integrations_models() -> Models:
    """The REST API's tables and the connect flow's OAuth states."""
    return connect_flow_models


@pytest.fixture
def provider() -> Iterator[OAuth2Provider]:
    with OAuth2Provider() as running:
        yield running


@pytest.fixture
def acme(client: Any, provider: OAuth2Provider) -> str:
    """An authorization-code integration 'acme' on the provider, with one configuration."""
    provider.add_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK])
    return register(client, "acme", provider.definition("Acme"), scopes=["read"])
