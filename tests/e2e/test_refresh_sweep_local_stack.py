"""The refresh sweep on `make run`'s stack: the scheduled coordinator hands the due index's shards to
refresh_worker invocations, which the local gateway runs asynchronously in its Lambda worker processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from infra.local.gateway.schedules import scheduled_event
from tests.e2e.conftest import RunningStack, start_stack, stop_stack, until
from tests.support.oauth2_provider import OAuth2Provider

CLIENT_ID, CLIENT_SECRET = "fanout-client", "fanout-client-secret-0001"
WORKERS = 3


@pytest.fixture(scope="module")
def fanout_stack() -> Iterator[RunningStack]:
    """A stack of its own, so that its sweep refreshes only this module's authentications."""
    running = start_stack({"REFRESH_SWEEP_WORKERS": str(WORKERS), "KEYPORT_LOCAL_WORKERS": "2"}, timeout=90)
    yield running
    stop_stack(running)


def test_the_sweep_hands_its_shards_to_workers_that_refresh_every_due_authentication_once(
    fanout_stack: RunningStack,
) -> None:
    url, auth = fanout_stack.url, fanout_stack.auth
    with OAuth2Provider() as provider:
        provider.add_client(CLIENT_ID, CLIENT_SECRET, ["https://localhost/auth/callback"])
        definition = provider.definition("Machine", grantType="client_credentials")
        del definition["auth"]["authorizationURL"]
        assert requests.put(f"{url}/api/machine", auth=auth, json=definition, timeout=10).status_code == 201
        credentials = {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}
        configured = requests.post(
            f"{url}/api/machine/configurations", auth=auth, json={"credentials": credentials}, timeout=10
        )
        assert configured.status_code == 201, configured.text
        provider.access_token_lifetime = 600  # due: it expires within the buffer and the sweep's window
        ids = []
        for _ in range(4):
            page = requests.get(f"{url}/auth/machine", timeout=30)
            assert page.status_code == 200, page.text
            ids.append(json.loads(page.text.split("var message = ")[1].split("; var origins")[0])["data"]["authId"])
        provider.access_token_lifetime = 3600

        answer = requests.post(
            f"{url}/2015-03-31/functions/refresh_sweep/invocations",
            json=scheduled_event("us-east-1", "123456789012"),
            timeout=60,
        )

        assert answer.status_code == 200, answer.text
        assert {k: answer.json()[k] for k in ("workers", "failed", "shards")} == {
            "workers": WORKERS,
            "failed": 0,
            "shards": 16,
        }

        def stored() -> list[dict[str, Any]]:
            views = [requests.get(f"{url}/api/machine/authentications/{i}", auth=auth, timeout=10) for i in ids]
            return [view.json()["payload"] for view in views]

        payloads = until(stored, lambda found: all(p["expiresIn"] == 3600 for p in found), timeout=60.0)
        assert [p["expiresIn"] for p in payloads] == [3600] * len(ids)
        assert len(provider.grants("client_credentials")) == 2 * len(ids)  # the connections, then one refresh each
