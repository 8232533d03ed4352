"""Fixtures of the integrations (Pizzly API) tests: the module's moto (tests/functional/conftest.py),
emptied per test, and the API client. A module that drives the connect flow names its tables by
overriding ``integrations_models`` (``connect_flow_models``: the OAuth states too)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.moto_stack import reread_settings
from tests.support.pizzly import PizzlyApi


@pytest.fixture
def aws_env(integrations_env: None) -> None:
    """Overrides the root fixture (which the root ``client`` fixture uses): the module's AWS, emptied."""


@pytest.fixture
def api(client: Any) -> PizzlyApi:
    return PizzlyApi(client)


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Change Keyport's environment for one test (``set_env(settings_env, NAME=value)`` in
    tests/support/moto_stack.py, or ``settings_env.setenv`` then ``reread_settings()``); settings are
    re-read after the test's changes are undone."""
    yield monkeypatch
    monkeypatch.undo()
    reread_settings()
