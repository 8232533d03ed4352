"""Fixtures of the outbound-guard tests: the module's moto with the connect flow's tables, names that
resolve inside (served to the process's guard by an injected resolver, a DNS server's part, never by
patching ``requests``), environment changes, and a plain HTTP peer on loopback."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.support.http_peer import HttpPeer
from tests.support.moto_stack import Models, connect_flow_models, reread_settings

INSIDE = {
    "api.internal.test": ["10.0.0.9"],
    "token.internal.test": ["169.254.169.254"],
    "mapped.internal.test": ["::ffff:192.168.1.20"],
    "mixed.internal.test": ["93.184.216.34", "172.16.0.3"],
}


@pytest.fixture(scope="module")
def integrations_models() -> Models:
    """The REST API's tables and the connect flow's OAuth states."""
    return connect_flow_models


@pytest.fixture
def aws_env(integrations_env: None) -> None:
    """Overrides the root fixture (which the root ``client`` fixture uses): the module's AWS, emptied."""


@pytest.fixture
def env() -> Iterator[Callable[..., None]]:
    """Set environment variables for one test; the settings are re-read, and restored after."""
    saved: dict[str, str | None] = {}

    def set_env(**values: str) -> None:
        for name, value in values.items():
            saved.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        reread_settings()

    yield set_env
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    reread_settings()


@pytest.fixture(autouse=True)
def dns() -> Iterator[dict[str, list[str]]]:
    """Names that resolve inside (``INSIDE``), served to the process's guard; other names as the system says."""
    from chalicelib import outbound

    guard = outbound.default_guard()
    table = dict(INSIDE)

    def resolve(host: str, port: int) -> list[str]:
        return table[host] if host in table else outbound.system_resolver(host, port)

    before, guard.resolver = guard.resolver, resolve
    yield table
    guard.resolver = before


@pytest.fixture
def peer() -> Iterator[HttpPeer]:
    with HttpPeer() as running:
        yield running
