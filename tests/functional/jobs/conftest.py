"""Fixtures of the refresh sweep's tests: one moto per module, a real OAuth 2 provider, the 'acme' integration."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.moto_stack import empty_tables, integrations_aws, sweep_models
from tests.support.oauth2_provider import OAuth2Provider
from tests.support.sweep_stack import CALLBACK, CLIENT_ID, CLIENT_SECRET, pin_settings, register_acme


@pytest.fixture(scope="module")
def keyport_aws() -> Iterator[None]:
    """One moto per module with only the tables these tests use (see tests/support/moto_stack.py)."""
    with integrations_aws(sweep_models):
        pin_settings()
        yield


@pytest.fixture
def aws_env(keyport_aws: None) -> None:
    """Overrides the root fixture (which the root ``client`` fixture uses): the module's AWS, emptied."""
    empty_tables(sweep_models)
    pin_settings()


@pytest.fixture
def provider() -> Iterator[OAuth2Provider]:
    with OAuth2Provider() as running:
        running.add_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK])
        yield running


@pytest.fixture
def acme(client: Any, provider: OAuth2Provider) -> Callable[[int], str]:
    """Connects one 'acme' authentication whose access token lives the given number of seconds; its id."""
    return register_acme(client, provider)
