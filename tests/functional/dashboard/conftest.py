"""Fixtures of the dashboard's tests: one moto per module (tests/functional/conftest.py) with the
integrations tables and the dashboard's sessions, sign-in failures and activity log, emptied per test."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.moto_stack import Models, integration_models


def dashboard_models() -> list[Any]:
    from chalicelib.activity.models import ActivityEvent
    from chalicelib.dashboard.models import DashboardSession, SignInFailures

    return [*integration_models(), DashboardSession, SignInFailures, ActivityEvent]


@pytest.fixture(scope="module")
def integrations_models() -> Models:
    return dashboard_models


@pytest.fixture
def aws_env(integrations_env: None) -> None:
    """Overrides the root fixture (which the root ``client`` fixture uses): the module's AWS, emptied."""
