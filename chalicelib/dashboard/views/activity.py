"""Activity: recent operator-visible events."""

from __future__ import annotations

from datetime import UTC, datetime

from chalice.app import Response

from chalicelib import activity
from chalicelib.dashboard.context import Ctx


def activity_page(ctx: Ctx) -> Response:
    before = activity.cursor(ctx.query("before"))  # ASCII digits and an optional "#" and 8 hex digits
    events, next_before = activity.recent(50, before, ctx.now)
    return ctx.show(
        "activity.html",
        nav="activity",
        events=events,
        next_before=next_before,
        days=activity.KEEP_DAYS,
        now=datetime.now(UTC),
    )
