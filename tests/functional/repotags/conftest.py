"""Fixtures of the repo tags tests: one moto AWS per module (the repo tags tables), emptied per test,
a GitHub stand-in the settings point at, and the API client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.github_server import GithubStandIn
from tests.support.repotags_api import RepoTagsApi, chalice_client, empty_tables, github_api, repotags_aws


@pytest.fixture(scope="module")
def repotags_module() -> Iterator[None]:
    """moto with the repo tags tables and the KMS key, shared by the tests of one module."""
    with repotags_aws():
        yield


@pytest.fixture(scope="module")
def client(repotags_module: None) -> Iterator[Any]:
    """Overrides the root fixture: the Chalice test client over the module's AWS."""
    with chalice_client() as test_client:
        yield test_client


@pytest.fixture
def github(repotags_module: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[GithubStandIn]:
    """Empty tables, and a GitHub stand-in that knows no token yet (``github.accept(token, github_id)``)."""
    empty_tables()
    with github_api(monkeypatch) as stand_in:
        yield stand_in


@pytest.fixture
def api(client: Any, github: GithubStandIn) -> RepoTagsApi:
    return RepoTagsApi(client)
