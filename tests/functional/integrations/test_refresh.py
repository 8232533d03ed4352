"""Refreshing an OAuth 2 authentication against a real local token endpoint (tests/support/oauth_server.py)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest

from tests.support.kms import kms_unreachable
from tests.support.moto_stack import atomic_requests
from tests.support.oauth_server import OAuthServer, Recorded
from tests.support.pizzly import PizzlyApi, custom_integration, raw_item, stored_authentication

CLIENT_ID = "local-client-id-0123"
CLIENT_SECRET = "local-client-secret-abcdef"
PAYLOAD = {"accessToken": "access-0", "refreshToken": "refresh-0", "expiresIn": 3600}
BASE = "/api/local-provider/authentications"


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


@contextmanager
def coalescing_window(seconds: str) -> Iterator[None]:
    """REFRESH_COALESCE_SECONDS set to ``seconds`` inside the block (settings read outside any request)."""
    from chalicelib.settings import clear_settings, get_settings

    before = os.environ.get("REFRESH_COALESCE_SECONDS")
    os.environ["REFRESH_COALESCE_SECONDS"] = seconds
    clear_settings()
    get_settings()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("REFRESH_COALESCE_SECONDS", None)
        else:
            os.environ["REFRESH_COALESCE_SECONDS"] = before
        clear_settings()
        get_settings()


@pytest.fixture
def no_coalescing() -> Iterator[None]:
    """Every forced refresh calls the provider (a window of 0 s)."""
    with coalescing_window("0"):
        yield


def connect(api: PizzlyApi, token_url: str, payload: dict[str, Any] | None = None, **auth: Any) -> tuple[str, str]:
    """Register the local provider (``auth`` merged into its definition), a configuration and an authentication."""
    put = api.put("/api/local-provider", custom_integration(token_url, **auth))
    assert put.status in (200, 201), put.body
    setup_id = api.configuration("local-provider", client_id=CLIENT_ID, secret=CLIENT_SECRET)["id"]
    auth_id = api.authentication("local-provider", setup_id, payload or PAYLOAD)["id"]
    return setup_id, auth_id


def refresh_sent(api: PizzlyApi, server: OAuthServer, **auth: Any) -> Recorded:
    """Connect the local provider (``auth`` merged into its definition), refresh once: the token request it got."""
    _, auth_id = connect(api, server.token_url, **auth)
    assert api.post(f"{BASE}/{auth_id}/refresh").status == 200
    return server.last()


def refused(api: PizzlyApi, auth_id: str, status: int, error: str) -> None:
    """Ask for a refresh of ``auth_id``: it must answer ``status`` with the error type ``error``."""
    answer = api.post(f"{BASE}/{auth_id}/refresh")
    assert answer.status == status, answer.body
    assert answer.error()[0] == error


def ms_of(iso: str) -> int:
    return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC).timestamp() * 1000)


def now_ms() -> int:
    return int(time.time() * 1000)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- a successful refresh ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_refresh_answers_200_with_the_new_access_token(api: PizzlyApi, server: OAuthServer, method: str) -> None:
    _, auth_id = connect(api, server.token_url)
    before = api.get(f"{BASE}/{auth_id}").body

    answer = api.request(method, f"{BASE}/{auth_id}/refresh")

    assert answer.status == 200
    assert answer.body["message"] == "Authentication refreshed"
    authentication = answer.body["authentication"]
    assert authentication["id"] == auth_id
    payload = authentication["payload"]
    assert payload["accessToken"] == "access-1"
    assert payload["tokenType"] == "bearer"
    assert payload["expiresIn"] == 3600
    assert payload["updatedAt"] > before["payload"]["updatedAt"]
    assert payload["updatedAt"] == ms_of(authentication["updated_at"])
    assert authentication["created_at"] == before["created_at"]
    assert ms_of(authentication["expires_at"]) == payload["updatedAt"] + 3600 * 1000
    assert authentication["refresh"] == {
        "needs_reconnect": False,
        "attempts": 0,
        "last_error": None,
        "next_attempt_at": None,
    }
    assert api.get(f"{BASE}/{auth_id}").body == authentication
    item = stored_authentication(auth_id)
    assert item.lease_id is None and item.lease_until is None


def test_a_refresh_sends_a_form_encoded_refresh_token_grant_with_client_credentials_in_the_body(
    api: PizzlyApi, server: OAuthServer
) -> None:
    sent = refresh_sent(api, server, tokenParams={"audience": "local-api"})

    assert server.calls() == 1
    assert sent.method == "POST"
    assert sent.path == "/token"
    assert sent.content_type.startswith("application/x-www-form-urlencoded")
    assert sent.body == {
        "grant_type": "refresh_token",
        "refresh_token": "refresh-0",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "audience": "local-api",
    }
    assert "authorization" not in sent.headers
    assert sent.headers["accept"] == "application/json"


def test_a_refresh_token_the_provider_does_not_rotate_is_kept(
    api: PizzlyApi, server: OAuthServer, no_coalescing: None
) -> None:
    _, auth_id = connect(api, server.token_url)

    first = api.post(f"{BASE}/{auth_id}/refresh").body["authentication"]["payload"]
    second = api.post(f"{BASE}/{auth_id}/refresh").body["authentication"]["payload"]

    assert (first["accessToken"], first["refreshToken"]) == ("access-1", "refresh-0")
    assert (second["accessToken"], second["refreshToken"]) == ("access-2", "refresh-0")
    assert [r.body["refresh_token"] for r in server.requests] == ["refresh-0", "refresh-0"]


def test_a_rotated_refresh_token_replaces_the_stored_one(
    api: PizzlyApi, server: OAuthServer, no_coalescing: None
) -> None:
    _, auth_id = connect(api, server.token_url)
    server.rotate = True

    refreshed = api.post(f"{BASE}/{auth_id}/refresh").body["authentication"]["payload"]
    again = api.post(f"{BASE}/{auth_id}/refresh").body["authentication"]["payload"]

    assert refreshed["refreshToken"] == "refresh-1"
    assert again["refreshToken"] == "refresh-2"
    assert [r.body["refresh_token"] for r in server.requests] == ["refresh-0", "refresh-1"]
    assert api.get(f"{BASE}/{auth_id}").body["payload"]["refreshToken"] == "refresh-2"


def test_the_header_authorization_method_sends_client_credentials_as_http_basic(
    api: PizzlyApi, server: OAuthServer
) -> None:
    sent = refresh_sent(api, server, authorizationMethod="header")

    assert sent.basic_credentials() == (CLIENT_ID, CLIENT_SECRET)
    assert "client_id" not in sent.body and "client_secret" not in sent.body
    assert sent.body == {"grant_type": "refresh_token", "refresh_token": "refresh-0"}


def test_the_body_authorization_method_sends_no_authorization_header(api: PizzlyApi, server: OAuthServer) -> None:
    sent = refresh_sent(api, server, authorizationMethod="body")

    assert sent.basic_credentials() is None
    assert (sent.body["client_id"], sent.body["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)


def test_the_json_body_format_sends_a_json_body(api: PizzlyApi, server: OAuthServer) -> None:
    sent = refresh_sent(api, server, bodyFormat="json", authorizationMethod="header")

    assert sent.content_type.startswith("application/json")
    assert sent.body == {"grant_type": "refresh_token", "refresh_token": "refresh-0"}
    assert sent.basic_credentials() == (CLIENT_ID, CLIENT_SECRET)


def test_the_refresh_url_is_used_instead_of_the_token_url_when_present(api: PizzlyApi, server: OAuthServer) -> None:
    refresh_sent(api, server, refreshURL=f"{server.url}/oauth/refresh")

    assert [r.path for r in server.requests] == ["/oauth/refresh"]


def test_a_refresh_uses_the_configurations_current_client_secret(api: PizzlyApi, server: OAuthServer) -> None:
    setup_id, auth_id = connect(api, server.token_url)
    rotated = {"clientId": CLIENT_ID, "clientSecret": "rotated-client-secret-999"}
    assert api.put(f"/api/local-provider/configurations/{setup_id}", {"credentials": rotated}).status == 200

    assert api.post(f"{BASE}/{auth_id}/refresh").status == 200

    assert server.last().body["client_secret"] == "rotated-client-secret-999"


def test_a_provider_answer_without_expiry_clears_the_stored_expiry(api: PizzlyApi, server: OAuthServer) -> None:
    _, auth_id = connect(api, server.token_url)
    server.expires_in = None

    payload = api.post(f"{BASE}/{auth_id}/refresh").body["authentication"]["payload"]

    assert "expiresIn" not in payload
    item = stored_authentication(auth_id)
    assert item.expires_at is None and item.refresh_due_at is None


# --- refusals and failures -----------------------------------------------------------------------------


def test_an_authentication_without_refresh_token_is_422_token_refresh_missing(
    api: PizzlyApi, server: OAuthServer
) -> None:
    _, auth_id = connect(api, server.token_url, payload={"accessToken": "access-0"})
    before = raw_item("authentications", auth_id)

    refused(api, auth_id, 422, "token_refresh_missing")
    assert server.calls() == 0
    assert raw_item("authentications", auth_id) == before


def test_an_oauth1_authentication_cannot_be_refreshed(api: PizzlyApi) -> None:
    body = {"credentials": {"consumerKey": "consumer-key-123456", "consumerSecret": "consumer-secret-abcdef"}}
    setup_id = api.post("/api/trello/configurations", body).body["configuration"]["id"]
    payload = {"oAuthToken": "tok", "oAuthTokenSecret": "tok-secret"}
    auth_id = api.authentication("trello", setup_id, payload)["id"]

    answer = api.post(f"/api/trello/authentications/{auth_id}/refresh")

    assert answer.status == 422
    assert answer.error()[0] == "token_refresh_missing"


def test_refreshing_an_unknown_authentication_is_404(api: PizzlyApi, server: OAuthServer) -> None:
    connect(api, server.token_url)

    refused(api, "no-such-auth", 404, "unknown_authentication")
    assert server.calls() == 0


def test_invalid_grant_is_422_token_refresh_failed_keeps_the_payload_and_asks_for_a_reconnection(
    api: PizzlyApi, server: OAuthServer
) -> None:
    _, auth_id = connect(api, server.token_url)
    before = api.get(f"{BASE}/{auth_id}").body
    server.fail_with(400, {"error": "invalid_grant", "error_description": "The refresh token was revoked."})

    answer = api.post(f"{BASE}/{auth_id}/refresh")

    assert answer.status == 422
    kind, message = answer.error()
    assert kind == "token_refresh_failed"
    assert "invalid_grant" in message
    assert "refresh-0" not in answer.raw.decode() and CLIENT_SECRET not in answer.raw.decode()
    after = api.get(f"{BASE}/{auth_id}").body
    assert after["payload"] == before["payload"]
    assert after["updated_at"] == before["updated_at"]
    assert after["refresh"]["attempts"] == 1
    assert after["refresh"]["needs_reconnect"] is True
    assert after["refresh"]["next_attempt_at"] is None
    last_error = after["refresh"]["last_error"]
    assert last_error["error"] == "invalid_grant"
    assert last_error["description"] == "The refresh token was revoked."
    assert last_error["status"] == 400
    assert abs(last_error["at"] - now_ms()) < 60_000
    item = stored_authentication(auth_id)
    assert item.lease_id is None and item.lease_until is None
    assert item.due_shard is None and item.refresh_due_at is None  # no longer swept


def test_a_provider_500_is_422_token_refresh_failed_and_is_retried_later(api: PizzlyApi, server: OAuthServer) -> None:
    _, auth_id = connect(api, server.token_url)
    before = api.get(f"{BASE}/{auth_id}").body
    server.fail_with(500, {})

    first = api.post(f"{BASE}/{auth_id}/refresh")
    after_first = api.get(f"{BASE}/{auth_id}").body
    second = api.post(f"{BASE}/{auth_id}/refresh")
    after_second = api.get(f"{BASE}/{auth_id}").body

    assert (first.status, second.status) == (422, 422)
    assert first.error()[0] == "token_refresh_failed"
    assert after_first["payload"] == before["payload"]
    assert after_first["refresh"]["needs_reconnect"] is False
    assert after_first["refresh"]["attempts"] == 1
    assert after_first["refresh"]["last_error"]["error"] == "provider_error"
    assert after_first["refresh"]["last_error"]["status"] == 500
    first_retry = ms_of(after_first["refresh"]["next_attempt_at"])
    assert 50_000 <= first_retry - now_ms() <= 61_000  # one minute of backoff
    assert after_second["refresh"]["attempts"] == 2
    assert 110_000 <= ms_of(after_second["refresh"]["next_attempt_at"]) - now_ms() <= 121_000  # then two
    assert server.calls() == 2
    assert stored_authentication(auth_id).lease_id is None


def test_a_successful_refresh_after_failures_clears_the_failure_record(api: PizzlyApi, server: OAuthServer) -> None:
    _, auth_id = connect(api, server.token_url)
    server.fail_with(503, {"error": "temporarily_unavailable"})
    assert api.post(f"{BASE}/{auth_id}/refresh").status == 422
    server.reset()

    answer = api.post(f"{BASE}/{auth_id}/refresh")

    assert answer.status == 200
    assert answer.body["authentication"]["refresh"] == {
        "needs_reconnect": False,
        "attempts": 0,
        "last_error": None,
        "next_attempt_at": None,
    }


def test_an_unreachable_provider_is_422_token_refresh_failed_without_reconnection(api: PizzlyApi) -> None:
    _, auth_id = connect(api, f"http://127.0.0.1:{closed_port()}/token")

    refused(api, auth_id, 422, "token_refresh_failed")
    refresh = api.get(f"{BASE}/{auth_id}").body["refresh"]
    assert refresh["last_error"]["error"] == "provider_unreachable"
    assert refresh["needs_reconnect"] is False
    assert refresh["next_attempt_at"] is not None


def test_a_provider_answer_without_access_token_is_422_and_keeps_the_payload(
    api: PizzlyApi, server: OAuthServer
) -> None:
    _, auth_id = connect(api, server.token_url)
    before = api.get(f"{BASE}/{auth_id}").body["payload"]
    server.fail_with(200, {"token_type": "bearer"})

    refused(api, auth_id, 422, "token_refresh_failed")
    after = api.get(f"{BASE}/{auth_id}").body
    assert after["payload"] == before
    assert after["refresh"]["last_error"]["error"] == "invalid_token_response"


def test_deleting_a_configuration_takes_its_authentications_with_it(api: PizzlyApi, server: OAuthServer) -> None:
    setup_id, auth_id = connect(api, server.token_url)
    assert api.delete(f"/api/local-provider/configurations/{setup_id}").status == 200

    refused(api, auth_id, 404, "unknown_authentication")
    assert server.calls() == 0


def test_a_refresh_whose_configuration_vanished_fails_for_good_without_calling_the_provider(
    api: PizzlyApi, server: OAuthServer
) -> None:
    from chalicelib.oauth.models import Configuration

    setup_id, auth_id = connect(api, server.token_url)
    Configuration.get(setup_id).delete()  # gone behind the API's back (a concurrent delete)

    refused(api, auth_id, 422, "token_refresh_failed")
    assert server.calls() == 0
    stored = stored_authentication(auth_id)
    assert stored.lease_id is None
    assert stored.needs_reconnect is True


def test_a_refresh_that_cannot_store_the_new_tokens_is_503_and_leaves_no_lease_behind(
    api: PizzlyApi, server: OAuthServer
) -> None:
    _, auth_id = connect(api, server.token_url)
    before = api.get(f"{BASE}/{auth_id}").body["payload"]

    with kms_unreachable(decrypt_works=True) as kms:
        refused(api, auth_id, 503, "service_unavailable")
    assert kms.refused == ["generate_data_key"]
    assert server.calls() == 1
    assert api.get(f"{BASE}/{auth_id}").body["payload"] == before
    item = stored_authentication(auth_id)
    assert item.lease_id is None and item.lease_until is None


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


# --- metrics (CloudWatch EMF lines on stdout) ----------------------------------------------------------------


def emf_metrics(captured: str) -> list[str]:
    """The metric names of the EMF lines written to stdout."""
    names = []
    for line in captured.splitlines():
        if line.startswith('{"_aws"'):
            document = json.loads(line)
            names += [m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    return names


@pytest.mark.usefixtures("no_coalescing")
def test_each_refresh_outcome_is_a_cloudwatch_metric(
    api: PizzlyApi, server: OAuthServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("METRICS", "emf")
    _, auth_id = connect(api, server.token_url)
    capsys.readouterr()

    assert api.post(f"{BASE}/{auth_id}/refresh").status == 200
    assert emf_metrics(capsys.readouterr().out) == ["RefreshSucceeded"]

    server.fail_with(500, {})
    assert api.post(f"{BASE}/{auth_id}/refresh").status == 422
    assert emf_metrics(capsys.readouterr().out) == ["RefreshFailed"]

    server.fail_with(400, {"error": "invalid_grant"})
    assert api.post(f"{BASE}/{auth_id}/refresh").status == 422
    out = capsys.readouterr().out
    assert emf_metrics(out) == ["RefreshNeedsReconnect"]
    assert "access-1" not in out and "refresh" + "-token" not in out  # no token in a metric line
