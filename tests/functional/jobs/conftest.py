"""Fixtures of the refresh sweep's tests: one moto per module, the 'acme' integration on the real OAuth 2
provider of tests/functional/conftest.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.moto_stack import Models, sweep_models
from tests.support.oauth2_provider import OAuth2Provider
from tests.support.sweep_stack import register_acme


@pytest.fixture(scope="module")
def integrations_models() -> Models:
    """The connect flow's tables and the broker's connections: the sweep reads both due indexes."""
    return sweep_models


@pytest.fixture
def aws_env(integrations_env: None) -> None:
    """Overrides the root fixture (which the root ``client`` fixture uses): the module's AWS, emptied."""


@pytest.fixture
def acme(client: Any, provider: OAuth2Provider) -> Callable[[int], str]:
    """Connects one 'acme' authentication whose access token lives the given number of seconds; its id."""
    return register_acme(client, provider)
