"""Queueing a project build or a blueprint repository update from a request.

One job at a time per item, settled by a conditional write; the build worker (``builds.py``) runs it
off the request path, invoked asynchronously.
"""

from __future__ import annotations

import uuid

from chalicelib import errors
from chalicelib.http import now_ms
from chalicelib.jobs.invoke import invoke_async
from chalicelib.publishing import builds, repository
from chalicelib.publishing.models import Blueprint, Project

BUILD_RUNNING = "A build of this project is already queued or running; try again when it is done."
UPDATE_RUNNING = "An update of this blueprint is already queued or running; try again when it is done."


class JobInProgress(errors.Conflict):
    code = "job_in_progress"
    default_message = BUILD_RUNNING


def set_job(item: Project | Blueprint, kind: str, now: int) -> str:
    """Put a queued job on an item about to be saved (its lock settles races)."""
    job_id = uuid.uuid4().hex
    item.job_id = job_id
    item.job_kind = kind
    item.job_deadline = builds.job_deadline(now)
    item.job_shard = "job"
    item.job_started_at = None
    return job_id


def has_job(item: Project | Blueprint, now: int) -> bool:
    return bool(item.job_id) and item.job_deadline is not None and int(item.job_deadline) >= now


def queue(item: Project | Blueprint, kind: str, status: str, message: str) -> None:
    """Queue a job on a stored item unless one is active (409 with ``message``), then dispatch it."""
    now = now_ms()
    job_id = uuid.uuid4().hex
    model = type(item)
    queued = repository.queue_job(item, job_id, kind, builds.job_deadline(now), now, [model.status.set(status)])
    if not queued:
        raise JobInProgress(message)
    dispatch(item, job_id)


def dispatch(item: Project | Blueprint, job_id: str) -> None:
    """Hand a queued job to the build worker; when that fails, the item ends broken and the caller gets 503."""
    kind = "project" if isinstance(item, Project) else "blueprint"
    try:
        invoke_async("build_worker", {"job": kind, "id": int(item.id), "job_id": job_id})
    except errors.ServiceUnavailable:
        builds.fail(item, job_id, "The job could not be queued; try again.", None)
        raise
