"""Schedules: a run on demand, and timers for rate(...) expressions only."""

from __future__ import annotations

import logging

import pytest
import requests

from infra.local.gateway import GatewayThread, LocalGateway, run_in_thread
from tests.support.gateway_app import app, rec


def test_run_schedule(gw: GatewayThread) -> None:
    before = len(rec.get("tick"))
    assert gw.gateway.run_schedule("tick") == {"ticked": "Scheduled Event"}
    ticks = rec.get("tick")
    assert len(ticks) == before + 1
    assert ticks[-1]["source"] == "aws.events" and ticks[-1]["detail"] == {}
    with pytest.raises(KeyError):
        gw.gateway.run_schedule("worker")


def test_schedule_timers_start_for_rate_only(caplog: pytest.LogCaptureFixture) -> None:
    gateway = LocalGateway(app, port=0)
    with caplog.at_level(logging.WARNING, logger="infra.local.gateway"):
        handle = run_in_thread(gateway)
        try:
            assert len(gateway._schedule_tasks) == 1  # "tick" only; "noon" is a cron
            assert requests.get(handle.url + "/", timeout=5).status_code == 200
        finally:
            handle.stop()
    assert any("noon" in r.getMessage() and "cron(" in r.getMessage() for r in caplog.records)
    assert gateway._schedule_tasks == []
