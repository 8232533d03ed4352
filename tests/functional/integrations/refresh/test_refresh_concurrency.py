"""Concurrent refreshes of one OAuth 2 authentication against a real local token endpoint
(tests/support/oauth_server.py): one provider call however many ask at once, and forced refreshes coalesced
within the window. The fixtures are in this folder's conftest.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from tests.support.moto_stack import atomic_requests
from tests.support.oauth_server import OAuthServer
from tests.support.pizzly import PizzlyApi, stored_authentication
from tests.support.refresh_calls import BASE, coalescing_window, connect


def race(auth_id: str, calls: list[Callable[[], Any]], timeout: float) -> tuple[list[Any], list[BaseException]]:
    """Run the calls at once, one thread each, moto serving one request at a time; their results and exceptions."""
    start = threading.Barrier(len(calls))
    results: list[Any] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def run(call: Callable[[], Any]) -> None:
        stored_authentication(auth_id)  # this thread's PynamoDB session is made before the race starts
        start.wait()
        try:
            result = call()
        except BaseException as e:  # reported by the test, with the thread's exception
            with lock:
                failures.append(e)
            return
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    with atomic_requests():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=timeout)
    return results, failures


# --- concurrency ---------------------------------------------------------------------------------------


def test_concurrent_refreshes_cause_exactly_one_provider_call(api: PizzlyApi, server: OAuthServer) -> None:
    from chalicelib.integrations.refresh_store import AuthenticationStore
    from chalicelib.oauth.refresh import Held, refresh

    _, auth_id = connect(api, server.token_url)
    seen = int(stored_authentication(auth_id).updated_at)
    server.rotate = True
    server.delay_ms = 300

    def call() -> Held:
        return refresh(AuthenticationStore(), auth_id, force=True, seen_updated_at=seen)

    results, failures = race(auth_id, [call] * 5, timeout=20)

    assert failures == []
    assert len(results) == 5
    assert server.calls() == 1
    assert sum(1 for held in results if held.refreshed) == 1
    assert {held.secret["accessToken"] for held in results} == {"access-1"}
    assert {held.secret["refreshToken"] for held in results} == {"refresh-1"}
    item = stored_authentication(auth_id)
    assert item.lease_id is None
    server.delay_ms = 0
    assert api.get(f"{BASE}/{auth_id}").body["payload"]["accessToken"] == "access-1"


# --- coalescing forced refreshes ------------------------------------------------------------------------


def test_forced_refreshes_in_a_loop_within_the_window_make_one_provider_call(
    api: PizzlyApi, server: OAuthServer
) -> None:
    _, auth_id = connect(api, server.token_url)
    server.rotate = True

    answers = [api.post(f"{BASE}/{auth_id}/refresh") for _ in range(20)]

    assert server.calls() == 1
    assert {a.status for a in answers} == {200}
    assert {a.body["authentication"]["payload"]["accessToken"] for a in answers} == {"access-1"}
    assert {a.body["authentication"]["payload"]["refreshToken"] for a in answers} == {"refresh-1"}
    assert api.get(f"{BASE}/{auth_id}").body == answers[-1].body["authentication"]
    item = stored_authentication(auth_id)
    assert item.lease_id is None and item.lease_until is None


def test_twenty_concurrent_forced_refreshes_make_one_provider_call(api: PizzlyApi, server: OAuthServer) -> None:
    """Each caller reads the authentication when it arrives, as the refresh endpoint does, then forces a refresh."""
    from chalicelib.integrations import service

    _, auth_id = connect(api, server.token_url)
    server.rotate = True
    server.delay_ms = 200

    def call(index: int) -> str:
        time.sleep(0.02 * index)  # arrivals spread over 0.4 s: before, during and after the provider call
        return str(service.refresh_authentication("local-provider", auth_id)["payload"]["accessToken"])

    tokens, failures = race(auth_id, [partial(call, i) for i in range(20)], timeout=30)

    assert failures == []
    assert tokens == ["access-1"] * 20
    assert server.calls() == 1


def test_a_forced_refresh_after_the_window_calls_the_provider_again(api: PizzlyApi, server: OAuthServer) -> None:
    with coalescing_window("1"):
        _, auth_id = connect(api, server.token_url)
        first = api.post(f"{BASE}/{auth_id}/refresh").body["authentication"]["payload"]
        within = api.post(f"{BASE}/{auth_id}/refresh").body["authentication"]["payload"]
        time.sleep(1.1)
        after = api.post(f"{BASE}/{auth_id}/refresh").body["authentication"]["payload"]

    assert (first["accessToken"], within["accessToken"], after["accessToken"]) == ("access-1", "access-1", "access-2")
    assert server.calls() == 2


def test_tokens_replaced_after_a_refresh_are_refreshed_at_once_when_forced(api: PizzlyApi, server: OAuthServer) -> None:
    """The window covers tokens a refresh stored, not tokens an operator put there afterwards."""
    _, auth_id = connect(api, server.token_url)
    assert api.post(f"{BASE}/{auth_id}/refresh").status == 200
    replaced = {"accessToken": "access-x", "refreshToken": "refresh-x", "expiresIn": 3600}
    assert api.put(f"{BASE}/{auth_id}", {"payload": replaced}).status == 200

    answer = api.post(f"{BASE}/{auth_id}/refresh")

    assert answer.body["authentication"]["payload"]["accessToken"] == "access-2"
    assert [r.body["refresh_token"] for r in server.requests] == ["refresh-0", "refresh-x"]
