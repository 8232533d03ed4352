"""Refreshing an OAuth 2 authentication against a real local token endpoint (tests/support/oauth_server.py):
what a refresh sends and stores, refusals and failures, and the metric each outcome writes. Concurrent and
coalesced refreshes are in test_refresh_concurrency.py; the fixtures are in this folder's conftest.py."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.kms import kms_unreachable
from tests.support.oauth_server import OAuthServer, Recorded
from tests.support.pizzly import PizzlyApi, raw_item, stored_authentication
from tests.support.refresh_calls import BASE, CLIENT_ID, CLIENT_SECRET, connect


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
