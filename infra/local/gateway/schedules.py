"""EventBridge schedules: a timer per ``@app.schedule(rate(...))``, each run a Lambda call with a Scheduled Event."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from chalice.app import ScheduledEventConfig, ScheduleExpression

from infra.local.gateway.core import GatewayCore, log
from infra.local.lambda_context import aws_region

_RATE_RE = re.compile(r"^\s*rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)\s*$", re.IGNORECASE)
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


def parse_rate(expression: str | ScheduleExpression) -> float | None:
    """Seconds between runs for ``rate(N minute|minutes|hour|hours|day|days)``; None for anything else."""
    text = expression.to_string() if isinstance(expression, ScheduleExpression) else str(expression)
    found = _RATE_RE.match(text)
    if not found:
        return None
    unit = found.group(2).lower().rstrip("s")
    return float(int(found.group(1)) * _RATE_UNITS[unit])


def scheduled_event(region: str, account: str, resources: list[str] | None = None) -> dict[str, Any]:
    """The event EventBridge sends a function on each run of a schedule rule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": resources or [],
        "detail": {},
    }


class ScheduleRunner(GatewayCore):
    """The rules Chalice deploys for its scheduled functions; only ``rate(...)`` expressions run by themselves."""

    def _schedules(self) -> dict[str, ScheduledEventConfig]:
        return {s.name: s for s in self.app.event_sources if isinstance(s, ScheduledEventConfig)}

    def _scheduled_event(self, name: str) -> dict[str, Any]:
        region = aws_region()
        rule = f"arn:aws:events:{region}:{self.account_id}:rule/{self.app.app_name}-{self.lambda_stage}-{name}-event"
        return scheduled_event(region, self.account_id, [rule])

    def _start_schedules(self) -> None:
        for name, config in self._schedules().items():
            period = parse_rate(config.schedule_expression)
            if period is None:
                expression = config.schedule_expression
                text = expression.to_string() if isinstance(expression, ScheduleExpression) else expression
                log.warning("schedule %s: %s is not emulated locally (only rate(...) is); skipped", name, text)
                continue
            self._schedule_tasks.append(asyncio.ensure_future(self._schedule_loop(name, period)))

    async def _schedule_loop(self, name: str, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            try:
                await self.run_schedule_async(name)
            except Exception:
                log.exception("scheduled function %s failed", name)

    async def run_schedule_async(self, name: str) -> Any:
        """Run the ``@app.schedule`` function ``name`` once (on the event loop's side)."""
        if name not in self._schedules():
            raise KeyError(f"no scheduled function named {name!r}")
        return json.loads(await self._call(name, self._scheduled_event(name), self._context(name)))

    def run_schedule(self, name: str) -> Any:
        """Run the ``@app.schedule`` function ``name`` once, now (in this thread through the app lock, or on
        a worker), and return its result.

        Call it from any thread but the gateway's event loop thread (use ``run_schedule_async`` there).
        """
        if self._loop_thread is not None and threading.get_ident() == self._loop_thread:
            raise RuntimeError("run_schedule() would block the gateway's loop; await run_schedule_async()")
        if name not in self._schedules():
            raise KeyError(f"no scheduled function named {name!r}")
        if self.workers is not None and self._loop is not None:
            return asyncio.run_coroutine_threadsafe(self.run_schedule_async(name), self._loop).result()
        handler = self._handler_for(name)
        assert handler is not None
        return json.loads(self._call_locked(handler, self._scheduled_event(name), self._context(name)))

    def _stop_schedules(self) -> None:
        for task in self._schedule_tasks:
            task.cancel()
        self._schedule_tasks.clear()
