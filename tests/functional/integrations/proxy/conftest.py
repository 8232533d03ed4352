"""Fixtures of the proxy tests: the module's moto with the connect flow's tables, and two integrations
connected on the real OAuth 2 provider of tests/functional/conftest.py (Keyport's client registered)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.connect_flow import connect, register
from tests.support.moto_stack import Models, connect_flow_models
from tests.support.oauth2_provider import OAuth2Provider
from tests.support.proxy_calls import OAUTH2_CREDENTIALS


@pytest.fixture(scope="module")
def integrations_models() -> Models:
    """The REST API's tables and the connect flow's OAuth states."""
    return connect_flow_models


@pytest.fixture
def echo(client: Any, provider: OAuth2Provider) -> str:
    """An integration 'shopapi' whose request template uses auth, connect params and forwarded headers."""
    definition = provider.definition(
        "Shop API",
        request={
            "baseURL": f"{provider.base_url}/api/shops/${{connectParams.shop}}/",
            "headers": {
                "Authorization": "Bearer ${auth.accessToken}",
                "X-Shop": "${connectParams.shop}",
                "X-Account": "${headers.x-account}",
            },
            "params": {"api_version": "2024-01"},
        },
    )
    register(client, "shopapi", definition, OAUTH2_CREDENTIALS)
    return connect(client, "shopapi", **{"params[shop]": "acme-store"})


@pytest.fixture
def plain(client: Any, provider: OAuth2Provider) -> str:
    """An integration 'plain' with the provider's default template (bearer token on <base>/api/)."""
    register(client, "plain", provider.definition("Plain"), OAUTH2_CREDENTIALS)
    return connect(client, "plain")
