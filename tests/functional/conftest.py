"""Functional-test fixtures: one moto AWS per module for the integrations service (see tests/support/moto_stack.py).

A module opts in by overriding the root ``aws_env`` fixture::

    @pytest.fixture
    def aws_env(integrations_aws: None) -> None:
        empty_tables()
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.moto_stack import integrations_aws as _integrations_aws


@pytest.fixture(scope="module")
def integrations_aws() -> Iterator[None]:
    """moto with the integrations tables and the KMS key, shared by the tests of one module."""
    with _integrations_aws():
        yield
