"""The refresh sweep's work (chalicelib.jobs.refresh_sweep.run) against a real OAuth 2 provider.

Authentications are made through the connect flow, so their refresh tokens are real; the provider's
access-token lifetime at connection time decides whether one is due. With the default 15-minute buffer
and 10-minute window, a token expiring within 25 minutes is due; one expiring in two hours is not.
Fixtures: tests/functional/jobs/conftest.py; the fan-out to workers: test_sweep_fanout.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bench.calls import counting_aws_calls
from tests.support.moto_stack import at_once
from tests.support.oauth2_provider import OAuth2Provider
from tests.support.sweep_stack import (
    CLIENT_ID,
    CLIENT_SECRET,
    DUE_LIFETIME,
    LATER_LIFETIME,
    PLENTY,
    REFRESHED_LIFETIME,
    api,
    item,
    pin_settings,
    stored,
)


def sweep(remaining_ms: Callable[[], int] = PLENTY) -> Any:
    from chalicelib.jobs import refresh_sweep

    return refresh_sweep.run(remaining_ms)


def test_exactly_the_due_authentications_are_refreshed(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    due = [acme(DUE_LIFETIME) for _ in range(3)]
    later = [acme(LATER_LIFETIME) for _ in range(2)]
    before = {auth_id: stored(client, auth_id) for auth_id in due + later}

    report = sweep()

    assert (report.selected, report.refreshed, report.skipped, report.failed, report.left) == (3, 3, 0, 0, 0)
    assert report.by_source["integrations"] == 3
    refreshes = provider.grants("refresh_token")
    assert sorted(r.form["refresh_token"] for r in refreshes) == sorted(
        before[auth_id]["payload"]["refreshToken"] for auth_id in due
    )
    for auth_id in due:
        after = stored(client, auth_id)
        assert after["payload"]["accessToken"] != before[auth_id]["payload"]["accessToken"]
        assert after["payload"]["expiresIn"] == REFRESHED_LIFETIME
        assert after["refresh"] == {
            "needs_reconnect": False,
            "attempts": 0,
            "last_error": None,
            "next_attempt_at": None,
        }
        refreshed = item(auth_id)
        assert refreshed.refresh_due_at == refreshed.expires_at - 15 * 60 * 1000
        assert refreshed.lease_id is None and refreshed.lease_until is None
    for auth_id in later:
        assert stored(client, auth_id) == before[auth_id]


def test_a_second_sweep_finds_nothing_left_to_do(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    acme(DUE_LIFETIME)
    assert sweep().refreshed == 1

    report = sweep()

    assert (report.selected, report.refreshed) == (0, 0)
    assert len(provider.grants("refresh_token")) == 1


def test_the_sweep_reads_the_due_index_and_never_scans(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    from chalicelib.oauth.due import DUE_SHARDS

    acme(DUE_LIFETIME)
    acme(LATER_LIFETIME)

    with counting_aws_calls() as calls:
        report = sweep()

    assert report.refreshed == 1
    assert calls["dynamodb.Scan"] == 0
    assert calls["dynamodb.Query"] >= DUE_SHARDS  # one per shard of each source (at least the integrations')


def test_near_the_deadline_nothing_is_started_and_everything_is_left(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    due = [acme(DUE_LIFETIME) for _ in range(3)]
    before = {auth_id: stored(client, auth_id) for auth_id in due}

    report = sweep(lambda: 10_000)

    assert report.selected == 3
    assert report.left == report.selected
    assert report.refreshed == report.failed == report.skipped == 0
    assert provider.grants("refresh_token") == []
    assert {auth_id: stored(client, auth_id) for auth_id in due} == before


def test_the_sweep_stops_taking_work_at_the_deadline_and_the_next_one_takes_the_rest(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    due = [acme(DUE_LIFETIME) for _ in range(4)]
    budget = iter([900_000, 900_000])

    first = sweep(lambda: next(budget, 1_000))
    second = sweep()

    assert (first.selected, first.refreshed, first.left) == (4, 2, 2)
    assert (second.selected, second.refreshed, second.left) == (2, 2, 0)
    assert len(provider.grants("refresh_token")) == 4
    assert all(stored(client, auth_id)["payload"]["expiresIn"] == REFRESHED_LIFETIME for auth_id in due)


def test_a_provider_failure_keeps_the_old_tokens_records_the_attempt_and_backs_off(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    from chalicelib.http import now_ms
    from chalicelib.integrations.models import Authentication

    auth_id = acme(DUE_LIFETIME)
    before = stored(client, auth_id)
    provider.fail_next_token_requests(1, status=500)

    report = sweep()

    assert (report.selected, report.failed) == (1, 1)
    after = stored(client, auth_id)
    assert after["payload"] == before["payload"]
    assert after["refresh"]["attempts"] == 1
    assert after["refresh"]["needs_reconnect"] is False
    assert after["refresh"]["last_error"]["status"] == 500
    failed = item(auth_id)
    assert now_ms() + 30_000 < failed.next_attempt_at <= now_ms() + 60_000
    assert failed.refresh_due_at == failed.next_attempt_at  # still in the due index, at the retry time
    assert failed.lease_id is None

    # Backing off: a sweep before the retry time does not call the provider.
    assert sweep().skipped == 1
    assert len(provider.grants("refresh_token")) == 1

    # Once the retry time has passed, the next sweep refreshes and clears the failure.
    failed.update(actions=[Authentication.next_attempt_at.set(now_ms() - 1)])
    assert sweep().refreshed == 1
    recovered = stored(client, auth_id)
    assert recovered["refresh"] == {
        "needs_reconnect": False,
        "attempts": 0,
        "last_error": None,
        "next_attempt_at": None,
    }
    assert recovered["payload"]["accessToken"] == provider.grants("refresh_token")[-1].response["access_token"]


def test_invalid_grant_asks_for_a_reconnection_and_is_never_retried(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    auth_id = acme(DUE_LIFETIME)
    before = stored(client, auth_id)
    provider.revoke_refresh_tokens()

    report = sweep()

    assert report.failed == 1
    assert provider.grants("refresh_token")[-1].response["error"] == "invalid_grant"
    after = stored(client, auth_id)
    assert after["payload"] == before["payload"]
    assert after["refresh"]["needs_reconnect"] is True
    assert after["refresh"]["attempts"] == 1
    assert after["refresh"]["last_error"]["error"] == "invalid_grant"
    gone = item(auth_id)
    assert gone.due_shard is None and gone.refresh_due_at is None  # out of the sparse due index

    again = sweep()

    assert again.selected == 0
    assert len(provider.grants("refresh_token")) == 1


def test_two_sweeps_at_once_refresh_each_due_authentication_exactly_once(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    due = [acme(DUE_LIFETIME) for _ in range(6)]
    originals = sorted(stored(client, auth_id)["payload"]["refreshToken"] for auth_id in due)
    provider.token_delay = 0.2  # keeps refreshes in flight while the other sweep reaches them

    reports = at_once([sweep, sweep])

    assert len(reports) == 2
    assert sorted(r.form["refresh_token"] for r in provider.grants("refresh_token")) == originals
    assert sum(r.refreshed for r in reports) == 6
    assert sum(r.failed for r in reports) == 0
    assert all(stored(client, auth_id)["payload"]["expiresIn"] == REFRESHED_LIFETIME for auth_id in due)


def test_the_scheduled_handler_passes_the_lambda_deadline(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    acme(DUE_LIFETIME)
    monkeypatch.setenv("REFRESH_SWEEP_WORKERS", "0")  # no fan-out: the scheduled function refreshes itself
    pin_settings()

    # Chalice's local Lambda context allows 3 s, below the sweep's 25 s safety margin: the handler
    # reads it, selects the due authentication and leaves it for the next run.
    result = client.lambda_.invoke(
        "refresh_sweep", client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
    )

    assert result.payload["selected"] == 1
    assert result.payload["left"] == 1
    assert provider.grants("refresh_token") == []


def test_client_credentials_authentications_are_renewed_with_their_grant(client: Any, provider: OAuth2Provider) -> None:
    definition = provider.definition("Machine")
    definition["auth"]["grantType"] = "client_credentials"
    del definition["auth"]["authorizationURL"]
    assert api(client, "PUT", "/api/machine", definition)[0] == 201
    credentials = {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}
    assert api(client, "POST", "/api/machine/configurations", {"credentials": credentials})[0] == 201
    provider.access_token_lifetime = DUE_LIFETIME
    page = client.http.get("/auth/machine")
    assert page.status_code == 200, page.body
    auth_id = json.loads(page.body.split(b"var message = ")[1].split(b"; var origins")[0])["data"]["authId"]
    provider.access_token_lifetime = REFRESHED_LIFETIME
    before = api(client, "GET", f"/api/machine/authentications/{auth_id}")[1]
    assert "refreshToken" not in before["payload"]

    report = sweep()

    assert (report.selected, report.refreshed, report.failed) == (1, 1, 0)
    assert len(provider.grants("client_credentials")) == 2
    assert provider.grants("refresh_token") == []
    after = api(client, "GET", f"/api/machine/authentications/{auth_id}")[1]
    assert after["payload"]["accessToken"] != before["payload"]["accessToken"]
    assert after["payload"]["expiresIn"] == REFRESHED_LIFETIME
    assert sweep().selected == 0


def emf_lines(captured: str) -> list[dict[str, Any]]:
    """The EMF documents written to stdout."""
    return [json.loads(line) for line in captured.splitlines() if line.startswith('{"_aws"')]


def test_a_sweep_writes_its_metrics_as_one_emf_line_and_a_request_path_refresh_its_own(
    client: Any,
    provider: OAuth2Provider,
    acme: Callable[[int], str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("METRICS", "emf")
    due = [acme(DUE_LIFETIME) for _ in range(4)]
    provider.fail_next_token_requests(1, status=500)
    capsys.readouterr()

    report = sweep()

    assert (report.selected, report.refreshed, report.failed) == (4, 3, 1)
    [line] = emf_lines(capsys.readouterr().out)
    [directive] = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Keyport" and directive["Dimensions"] == [["Service"]]
    units = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    assert units == {
        "RefreshSucceeded": "Count",
        "RefreshFailed": "Count",
        "SweepOverdue": "Milliseconds",
        "SweepSelected": "Count",
        "SweepLeft": "Count",
    }
    assert (line["RefreshSucceeded"], line["RefreshFailed"], line["SweepSelected"], line["SweepLeft"]) == (3, 1, 4, 0)
    assert line["SweepOverdue"] == 0 and line["Service"] == "keyport"

    # Outside a sweep, a refresh writes its own line at once.
    monkeypatch.setenv("REFRESH_COALESCE_SECONDS", "0")
    pin_settings()
    refreshed = next(auth_id for auth_id in due if stored(client, auth_id)["refresh"]["attempts"] == 0)
    status, _ = api(client, "POST", f"/api/acme/authentications/{refreshed}/refresh")
    assert status == 200
    [own] = emf_lines(capsys.readouterr().out)
    assert [metric["Name"] for metric in own["_aws"]["CloudWatchMetrics"][0]["Metrics"]] == ["RefreshSucceeded"]
    assert own["RefreshSucceeded"] == 1
