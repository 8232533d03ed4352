"""The refresh sweep fanned out (chalicelib.jobs.refresh_fanout): the scheduled coordinator hands the due
index's shards to ``refresh_worker`` invocations, each refreshing its own shards until its deadline.

Asynchronous invocations are recorded (the Lambda client is replaced) and run through the app's own
handlers; the provider is a real local OAuth 2 server whose refresh tokens rotate, so a credential
refreshed twice would fail the second time. Fixtures: tests/functional/jobs/conftest.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from bench.calls import counting_aws_calls
from tests.support.entities_stack import RecordingLambda
from tests.support.moto_stack import at_once
from tests.support.oauth2_provider import OAuth2Provider
from tests.support.sweep_stack import DUE_LIFETIME, LATER_LIFETIME, REFRESHED_LIFETIME, item, pin_settings, stored

HOUR_MS = 3_600_000


class Context:
    """What the Lambda runtime passes as ``context``: here, only the time left."""

    def __init__(self, remaining_ms: int = 900_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_client(aws_env: None) -> Iterator[RecordingLambda]:
    """The Lambda client, recording asynchronous invocations instead of making them."""
    from chalicelib import aws

    recording = RecordingLambda()
    aws.inject("lambda", recording)
    yield recording
    aws._injected.pop("lambda", None)


def workers_setting(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setenv("REFRESH_SWEEP_WORKERS", str(count))
    pin_settings()


def coordinate(client: Any) -> dict[str, Any]:
    """Run the scheduled refresh_sweep function as EventBridge would; its result."""
    event = client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
    result: dict[str, Any] = client.lambda_.invoke("refresh_sweep", event).payload
    return result


def run_worker(event: dict[str, Any], remaining_ms: int = 900_000) -> dict[str, Any]:
    """Run one refresh_worker invocation through the function app.py registers, as Lambda would."""
    from app import app

    result: dict[str, Any] = app.handler_map["refresh_worker"](event, Context(remaining_ms))
    return result


def every_shard() -> list[list[Any]]:
    from chalicelib.jobs import refresh_fanout, refresh_sweep

    return [list(shard) for shard in refresh_fanout.all_shards(refresh_sweep.sources())]


def worker_event(shards: list[list[Any]], stop_in_ms: int = HOUR_MS) -> dict[str, Any]:
    return {"shards": shards, "stop_at": int(time.time() * 1000) + stop_in_ms}


def refresh_tokens(client: Any, auth_ids: Iterable[str]) -> list[str]:
    return sorted(stored(client, auth_id)["payload"]["refreshToken"] for auth_id in auth_ids)


@pytest.mark.parametrize("workers", [1, 2, 3, 8, 16, 40])
def test_the_sweep_deals_every_shard_once_over_as_many_workers_as_the_setting_says(
    client: Any,
    lambda_client: RecordingLambda,
    acme: Callable[[int], str],
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth_id = acme(DUE_LIFETIME)
    due_at = item(auth_id).refresh_due_at
    workers_setting(monkeypatch, workers)
    shards = every_shard()
    assert len(shards) == 16  # 8 shards of the authentications' due index, 8 of the connections'

    with counting_aws_calls() as calls, caplog.at_level(logging.INFO, logger="keyport.sweep"):
        result = coordinate(client)

    expected = min(workers, len(shards))
    assert lambda_client.names() == ["refresh_worker"] * expected
    dealt = [shard for _, event in lambda_client.calls for shard in event["shards"]]
    assert sorted(dealt) == sorted(shards)
    sizes = [len(event["shards"]) for _, event in lambda_client.calls]
    assert max(sizes) - min(sizes) <= 1
    for source in ("integrations", "broker"):  # each source's shards spread over as many workers as they can
        holding = [event for _, event in lambda_client.calls if any(s[0] == source for s in event["shards"])]
        assert len(holding) == min(workers, 8)
    assert (result["workers"], result["failed"], result["shards"]) == (expected, 0, 16)
    assert all(event["stop_at"] == result["stop_at"] for _, event in lambda_client.calls)
    assert not [name for name in calls if name.startswith("dynamodb.")]  # the coordinator reads no table
    assert item(auth_id).refresh_due_at == due_at  # handed out, not refreshed, by the coordinator
    assert "'failed': 0," in caplog.records[-1].getMessage()  # the refresh failure alarm does not count it


def test_the_workers_of_one_sweep_refresh_every_due_authentication_once(
    client: Any,
    provider: OAuth2Provider,
    lambda_client: RecordingLambda,
    acme: Callable[[int], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    due = [acme(DUE_LIFETIME) for _ in range(6)]
    later = acme(LATER_LIFETIME)
    originals = refresh_tokens(client, due)
    workers_setting(monkeypatch, 4)

    coordinate(client)
    reports = [run_worker(event) for _, event in lambda_client.calls]

    assert sorted(r.form["refresh_token"] for r in provider.grants("refresh_token")) == originals
    assert sum(r["refreshed"] for r in reports) == 6
    assert sum(r["selected"] for r in reports) == 6
    assert all(stored(client, auth_id)["payload"]["expiresIn"] == REFRESHED_LIFETIME for auth_id in due)
    assert item(later).refresh_due_at == item(later).expires_at - 15 * 60 * 1000


def test_a_worker_refreshes_only_the_authentications_of_its_shards(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    due = [acme(DUE_LIFETIME) for _ in range(8)]
    shard_of = {auth_id: int(item(auth_id).due_shard.removeprefix("due#")) for auth_id in due}
    mine = shard_of[due[0]]
    inside = [auth_id for auth_id in due if shard_of[auth_id] == mine]
    outside = [auth_id for auth_id in due if shard_of[auth_id] != mine]
    assert outside, "the ids happened to hash to one shard"
    before = {auth_id: stored(client, auth_id) for auth_id in outside}
    originals = refresh_tokens(client, inside)

    report = run_worker(worker_event([["integrations", mine], ["broker", mine]]))

    assert (report["selected"], report["refreshed"], report["left"]) == (len(inside), len(inside), 0)
    assert sorted(r.form["refresh_token"] for r in provider.grants("refresh_token")) == originals
    assert {auth_id: stored(client, auth_id) for auth_id in outside} == before


class WorkerDied(BaseException):
    """The worker's process ended (out of memory, killed by its timeout) in the middle of a refresh."""


class DyingStore:
    """The refresh function's store of a worker that dies as it reaches ``victim``'s provider call: that
    refresh keeps its lease, and the dead worker takes no further lease and stores nothing more."""

    def __init__(self, inner: Any, victim: str) -> None:
        self.inner, self.victim, self.dead = inner, victim, False

    def acquire(self, key: str, lease_id: str, now: int, lease_ms: int) -> Any:
        if self.dead:
            raise WorkerDied()
        return self.inner.acquire(key, lease_id, now, lease_ms)

    def peek(self, key: str) -> Any:
        return self.inner.peek(key)

    def provider(self, key: str, held: Any) -> Any:
        if key == self.victim:
            self.dead = True
        if self.dead:
            raise WorkerDied()
        return self.inner.provider(key, held)

    def save(self, key: str, *args: Any) -> Any:
        return self._unless_victim(key, "save", *args)

    def fail(self, key: str, *args: Any) -> Any:
        return self._unless_victim(key, "fail", *args)

    def release(self, key: str, *args: Any) -> Any:
        return self._unless_victim(key, "release", *args)

    def _unless_victim(self, key: str, method: str, *args: Any) -> Any:
        if key == self.victim:
            raise WorkerDied()
        return getattr(self.inner, method)(key, *args)


class DyingSource:
    """The authentications' due index, refreshed through a :class:`DyingStore`."""

    def __init__(self, victim: str) -> None:
        from chalicelib.integrations.refresh_store import SWEEP_SOURCE

        self.inner = SWEEP_SOURCE
        self.name, self.shard_count, self.victim = SWEEP_SOURCE.name, SWEEP_SOURCE.shard_count, victim

    def due(self, until_ms: int, shards: Iterable[int] | None = None) -> Iterator[tuple[str, int]]:
        return self.inner.due(until_ms, shards)

    def store(self, entries: Any) -> DyingStore:
        return DyingStore(self.inner.store(entries), self.victim)


def test_what_a_dead_worker_did_not_refresh_is_left_for_the_retry_or_the_next_sweep(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    from chalicelib.http import now_ms
    from chalicelib.integrations.models import Authentication
    from chalicelib.jobs import refresh_worker

    due = [acme(DUE_LIFETIME) for _ in range(6)]
    originals = refresh_tokens(client, due)
    due_at = {auth_id: item(auth_id).refresh_due_at for auth_id in due}
    victim = due[3]
    event = worker_event(every_shard())

    with pytest.raises(WorkerDied):
        refresh_worker.work(event, Context().get_remaining_time_in_millis, found=[DyingSource(victim)])

    dead = item(victim)
    assert dead.lease_until is not None  # the dead worker never released it
    assert dead.refresh_due_at == due_at[victim]  # still in the due index, as due as before
    victim_token = stored(client, victim)["payload"]["refreshToken"]
    assert victim_token not in {r.form["refresh_token"] for r in provider.grants("refresh_token")}
    unrefreshed = [a for a in due if stored(client, a)["payload"]["expiresIn"] != REFRESHED_LIFETIME]
    assert victim in unrefreshed
    assert all(item(a).refresh_due_at == due_at[a] for a in unrefreshed)

    # Lambda retries the failed invocation a minute later, when the dead worker's 30-second lease is over.
    dead.update(actions=[Authentication.lease_until.set(now_ms() - 1)])
    retry = run_worker(event)

    assert (retry["selected"], retry["refreshed"], retry["failed"]) == (len(unrefreshed), len(unrefreshed), 0)
    assert sorted(r.form["refresh_token"] for r in provider.grants("refresh_token")) == originals
    assert all(stored(client, a)["payload"]["expiresIn"] == REFRESHED_LIFETIME for a in due)
    assert run_worker(worker_event(every_shard()))["selected"] == 0  # the next sweep finds nothing left


def test_two_workers_given_the_same_shards_refresh_each_authentication_once(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    due = [acme(DUE_LIFETIME) for _ in range(6)]
    originals = refresh_tokens(client, due)
    provider.token_delay = 0.2  # keeps refreshes in flight while the other worker reaches them
    event = worker_event(every_shard())

    reports = at_once([lambda: run_worker(event)] * 2)

    assert len(reports) == 2
    assert sorted(r.form["refresh_token"] for r in provider.grants("refresh_token")) == originals
    assert sum(r["refreshed"] for r in reports) == 6
    assert sum(r["failed"] for r in reports) == 0
    assert all(stored(client, auth_id)["payload"]["expiresIn"] == REFRESHED_LIFETIME for auth_id in due)


@pytest.mark.parametrize(
    ("stop_in_ms", "lambda_left_ms"),
    [(20_000, 900_000), (-1_000, 900_000), (HOUR_MS, 10_000)],
    ids=["the sweep's stop time is near", "a retry after the stop time", "the Lambda deadline is near"],
)
def test_a_worker_starts_nothing_past_its_deadline_and_leaves_everything_due(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str], stop_in_ms: int, lambda_left_ms: int
) -> None:
    due = [acme(DUE_LIFETIME) for _ in range(3)]
    before = {auth_id: stored(client, auth_id) for auth_id in due}

    report = run_worker(worker_event(every_shard(), stop_in_ms), lambda_left_ms)

    assert (report["selected"], report["left"], report["refreshed"]) == (3, 3, 0)
    assert provider.grants("refresh_token") == []
    assert {auth_id: stored(client, auth_id) for auth_id in due} == before
    assert run_worker(worker_event(every_shard()))["refreshed"] == 3  # the next sweep's worker takes them


def test_a_worker_stops_taking_work_at_its_deadline_and_the_next_sweep_takes_the_rest(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    from chalicelib.jobs import refresh_worker

    due = [acme(DUE_LIFETIME) for _ in range(4)]
    budget = iter([900_000, 900_000])

    first = refresh_worker.work(worker_event(every_shard()), lambda: next(budget, 1_000))
    second = run_worker(worker_event(every_shard()))

    assert (first["selected"], first["refreshed"], first["left"]) == (4, 2, 2)
    assert (second["selected"], second["refreshed"], second["left"]) == (2, 2, 0)
    assert len(provider.grants("refresh_token")) == 4
    assert all(stored(client, auth_id)["payload"]["expiresIn"] == REFRESHED_LIFETIME for auth_id in due)


def test_a_hand_off_lambda_refuses_is_counted_as_failed_and_waits_for_the_next_sweep(
    client: Any,
    lambda_client: RecordingLambda,
    acme: Callable[[int], str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth_id = acme(DUE_LIFETIME)
    workers_setting(monkeypatch, 2)
    lambda_client.fail = True

    with caplog.at_level(logging.INFO, logger="keyport.sweep"):
        result = coordinate(client)

    assert (result["workers"], result["failed"]) == (0, 2)
    assert caplog.records[-1].getMessage().startswith("refresh sweep: ")  # the line the failure alarm reads
    assert "'failed': 2," in caplog.records[-1].getMessage()  # ... and counts, since it lacks "'failed': 0,"
    assert item(auth_id).refresh_due_at is not None  # still due: the next sweep hands it out again


def test_a_malformed_worker_event_is_ignored(client: Any, provider: OAuth2Provider, acme: Callable[[int], str]) -> None:
    acme(DUE_LIFETIME)

    for event in ({}, {"shards": [["integrations", "0"]], "stop_at": 1}, {"shards": [], "stop_at": "soon"}):
        assert run_worker(event) == {"outcome": "ignored", "reason": "malformed event"}
    assert provider.grants("refresh_token") == []


def test_the_workers_stop_before_the_next_scheduled_sweep() -> None:
    from chalice.app import ScheduledEventConfig

    from app import app
    from chalicelib.jobs import refresh_fanout

    schedules = [s for s in app.event_sources if isinstance(s, ScheduledEventConfig) and s.name == "refresh_sweep"]
    expression: Any = schedules[0].schedule_expression
    assert (expression.value, expression.unit) == (refresh_fanout.PERIOD_MS // 60_000, "MINUTES")
    assert 0 < refresh_fanout.STOP_BEFORE_NEXT_MS < refresh_fanout.PERIOD_MS
