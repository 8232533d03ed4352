"""Functional-test fixtures that several folders share: one moto AWS per module with the integrations
tables (see tests/support/moto_stack.py). Each service's own fixtures are in its folder's conftest.

A module opts in by overriding the root ``aws_env`` fixture (``tests/functional/integrations/conftest.py``
does it for the whole integrations folder)::

    @pytest.fixture
    def aws_env(integrations_env: None) -> None:
        pass  # the module's integrations tables, emptied

and names other tables by overriding ``integrations_models`` (``connect_flow_models``, ``sweep_models``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support.connect_flow import CALLBACK, CLIENT_ID, CLIENT_SECRET
from tests.support.moto_stack import Models, empty_tables, integration_models, reread_settings
from tests.support.moto_stack import integrations_aws as _integrations_aws

if TYPE_CHECKING:
    from tests.support.oauth2_provider import OAuth2Provider


@pytest.fixture(scope="module")
def integrations_models() -> Models:
    """The tables a module's tests use: the REST API's, unless the module overrides this fixture."""
    return integration_models


@pytest.fixture(scope="module")
def integrations_aws(integrations_models: Models) -> Iterator[None]:
    """moto with ``integrations_models``' tables and the KMS key, shared by the tests of one module."""
    with _integrations_aws(integrations_models):
        yield


@pytest.fixture
def integrations_env(integrations_aws: None, integrations_models: Models) -> None:
    """The module's moto, its tables emptied and the settings re-read, for each test."""
    empty_tables(integrations_models)
    reread_settings()


@pytest.fixture
def provider() -> Iterator[OAuth2Provider]:
    """A real OAuth 2 provider on a loopback port with Keyport's client (tests/support/connect_flow.py)
    registered, for the proxy's and the sweep's tests; a module that needs another provider overrides it."""
    # Imported here, not above: importing the stand-in allows authlib's plain-HTTP transport for the process.
    from tests.support.oauth2_provider import OAuth2Provider

    with OAuth2Provider() as running:
        running.add_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK])
        yield running
