"""Blueprint repositories and the outbound guard: inside addresses refused when stored and when fetched,
redirects checked, and fetch failures reported without the connection's details.

The git fetches go over real HTTP to a local server (tests/support/http_peer.py); a name that resolves
inside is served by a resolver injected into the process's guard.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.publishing.conftest import Api
from tests.support.http_peer import HttpPeer


@pytest.fixture(autouse=True)
def dns() -> Iterator[None]:
    from chalicelib import outbound

    guard = outbound.default_guard()
    table = {"git.internal.test": ["10.0.0.7"], "git.partner.test": ["127.0.0.1"]}

    def resolve(host: str, port: int) -> list[str]:
        return table[host] if host in table else outbound.system_resolver(host, port)

    before, guard.resolver = guard.resolver, resolve
    yield
    guard.resolver = before


@pytest.fixture
def root(api: Api) -> Api:
    api.user("root", superuser=True)
    return api


def blueprint(api: Api, repo_url: str) -> dict[str, Any]:
    created = api.ok("POST", "/blueprints", "root", {"title": "Remote", "repo_url": repo_url}, 201)
    found: dict[str, Any] = api.ok("GET", f"/blueprints/{created['id']}", "root")
    return found


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "repo_url",
    [
        "https://10.0.0.1/org/blueprint.git",
        "https://169.254.169.254/latest/meta-data.git",
        "https://[::ffff:192.168.0.1]/org/blueprint.git",
        "https://[fd00::1]/org/blueprint.git",
        "https://0xa9fea9fe/org/blueprint.git",
        "ssh://git@172.16.0.5/org/blueprint.git",
        "http://100.64.0.1/org/blueprint.git",
    ],
)
def test_a_repository_at_an_inside_address_is_refused_when_stored(root: Api, repo_url: str) -> None:
    refused = root.call("POST", "/blueprints", "root", {"title": "Inside", "repo_url": repo_url})

    assert refused.status == 400
    assert "address" in refused.body["error"]
    assert root.ok("GET", "/blueprints", "root") == []


def test_a_repository_whose_name_resolves_inside_breaks_with_only_that_said(root: Api) -> None:
    found = blueprint(root, "https://git.internal.test/org/blueprint.git")

    assert found["status"] == "broken"
    assert found["error_message"] == (
        "Could not fetch the repository https://git.internal.test/org/blueprint.git: its address is not allowed."
    )
    assert found["version"] is None


def test_a_redirect_to_an_inside_address_is_refused(root: Api) -> None:
    with HttpPeer(redirect_to="http://169.254.169.254/latest/meta-data/") as peer:
        found = blueprint(root, f"http://git.partner.test:{peer.port}/redirect/blueprint.git")

        assert [seen.path for seen in peer.requests] == ["/redirect/blueprint.git/info/refs?service=git-upload-pack"]
    assert found["status"] == "broken"
    assert found["error_message"].endswith(": its address is not allowed.")


def test_a_connection_failure_is_reported_without_its_details(root: Api) -> None:
    port = closed_port()
    found = blueprint(root, f"http://git.partner.test:{port}/org/blueprint.git")

    assert found["status"] == "broken"
    message = found["error_message"]
    assert message == (
        f"Could not fetch the repository http://git.partner.test:{port}/org/blueprint.git: "
        "the server could not be reached or did not answer as a git server."
    )
    for detail in ("127.0.0.1", "refused", "Errno", "HTTPConnectionPool", "Max retries"):
        assert detail not in message
