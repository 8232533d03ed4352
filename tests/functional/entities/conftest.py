"""Fixtures of the entity store's tests: one moto AWS per module, emptied per test, recording peers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.entities_stack import (
    Platform,
    RecordingLambda,
    RecordingManagement,
    empty_entity_tables,
    entities_aws,
)


@pytest.fixture(scope="module")
def entities_module_aws() -> Iterator[None]:
    with entities_aws():
        yield


@pytest.fixture
def aws_env(entities_module_aws: None) -> Iterator[None]:
    """The root fixture, narrowed to the entity store's tables (made once per module, emptied per test)."""
    from chalicelib import aws
    from chalicelib.settings import clear_settings, get_settings

    empty_entity_tables()
    yield
    clear_settings()
    get_settings()
    aws.reset()


@pytest.fixture
def lambdas(aws_env: None) -> RecordingLambda:
    from chalicelib import aws

    recorder = RecordingLambda()
    aws.inject("lambda", recorder)
    return recorder


@pytest.fixture
def management(aws_env: None) -> RecordingManagement:
    from chalicelib import aws

    recorder = RecordingManagement()
    aws.inject("apigatewaymanagementapi", recorder)
    return recorder


@pytest.fixture
def platform(client: Any, lambdas: RecordingLambda, management: RecordingManagement) -> Platform:
    return Platform(client)


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Change settings for one test: ``settings_env(LOGIN_MAX_FAILURES="3")``."""
    from chalicelib.settings import clear_settings, get_settings

    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        clear_settings()
        get_settings()

    return apply
