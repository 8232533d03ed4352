"""Fixtures of the refresh-on-request tests: a real local token endpoint (tests/support/oauth_server.py),
started once per module and reset for each test, and a coalescing window of 0 s."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.oauth_server import OAuthServer
from tests.support.refresh_calls import coalescing_window


@pytest.fixture(scope="module")
def running_server() -> Iterator[OAuthServer]:
    server = OAuthServer().start()
    yield server
    server.stop()


@pytest.fixture
def server(running_server: OAuthServer) -> OAuthServer:
    running_server.reset()
    running_server.rotate = False
    running_server.expires_in = 3600
    return running_server


@pytest.fixture
def no_coalescing() -> Iterator[None]:
    """Every forced refresh calls the provider (a window of 0 s)."""
    with coalescing_window("0"):
        yield
