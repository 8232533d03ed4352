"""Fixtures of the tests of what every service shares. A module here opts into its own moto (see
tests/functional/conftest.py) or keeps the root ``aws_env`` with every table."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.pizzly import PizzlyApi


@pytest.fixture
def api(client: Any) -> PizzlyApi:
    """The integrations API, as its secret-key holder calls it: the records several of these tests seal,
    guard or time out are integrations records."""
    return PizzlyApi(client)
