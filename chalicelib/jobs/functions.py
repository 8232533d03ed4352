"""The refresh sweep's Lambda functions: thin handlers over :mod:`chalicelib.jobs.refresh_fanout` and
:mod:`chalicelib.jobs.refresh_worker`."""

from __future__ import annotations

from typing import Any

from chalice.app import CloudWatchEvent, Rate

from chalicelib.services import blueprint

bp = blueprint(__name__)


@bp.schedule(Rate(5, unit=Rate.MINUTES), name="refresh_sweep")
def refresh_sweep(event: CloudWatchEvent) -> dict[str, object]:
    """Every 5 minutes: hand the shards of the tokens' due index to refresh_worker invocations."""
    from chalicelib.jobs import refresh_fanout

    context: Any = event.context
    return refresh_fanout.coordinate(context.get_remaining_time_in_millis)


@bp.lambda_function(name="refresh_worker")
def refresh_worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Refresh every stored OAuth token due in the shards the sweep handed over (invoked asynchronously)."""
    from chalicelib.jobs import refresh_worker as worker

    return worker.work(event, context.get_remaining_time_in_millis)
