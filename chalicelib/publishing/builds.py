"""The build worker: project builds and blueprint repository updates, off the request path.

A request records a queued job on the item (``job_id``, ``job_kind``, ``job_deadline``) with a
conditional write, so only one job per item is ever queued or running, then invokes the
``build_worker`` function asynchronously. The worker marks the job started (once: a retried
invocation finds it started and ends it broken), does the work, and clears the job in the same write
that records the outcome, on condition that the job is still its own.

A job whose worker died leaves its deadline behind: reads (``expire_if_overdue``) and the scheduled
sweep (``sweep``, reading the sparse ``jobs`` index, never the table) end it ``broken`` with a message.

Builds are real and run no code from the repository: the blueprint's files at the project's version
are read with dulwich, its Jinja2 templates rendered in a sandbox with the build data, and the result
uploaded to S3 under ``preview/<slug>/`` or ``publish/<slug>/`` (see docs/publishing.md).
"""

from __future__ import annotations

import logging
import mimetypes
import time
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws, observability
from chalicelib.errors import ServiceUnavailable
from chalicelib.http import now_ms
from chalicelib.publishing import gitrepo, render, repository
from chalicelib.publishing.buildlog import BuildFailed, BuildLog
from chalicelib.publishing.models import Blueprint, Group, Project, Theme
from chalicelib.settings import get_settings

log = logging.getLogger("keyport.publishing")

T = TypeVar("T", bound=Project | Blueprint)
MAX_ERROR = 2_000
MAX_EMBED_HEIGHT = 100_000
TARGETS = ("preview", "publish")


# --- entry point -------------------------------------------------------------------------------------------


def handle(event: dict[str, Any]) -> dict[str, Any]:
    """The build_worker function: ``{"job": "project" | "blueprint", "id": N, "job_id": "..."}``."""
    kind, item_id, job_id = event.get("job"), event.get("id"), event.get("job_id")
    if kind not in ("project", "blueprint") or not isinstance(item_id, int) or not isinstance(job_id, str):
        log.error("build_worker: malformed event %r", {k: event.get(k) for k in ("job", "id", "job_id")})
        return {"outcome": "ignored", "reason": "malformed event"}
    started = time.monotonic()
    if kind == "project":
        result = _run(Project, item_id, job_id, _build_project)
    else:
        result = _run(Blueprint, item_id, job_id, _update_blueprint)
    observability.metric("Build", Outcome=str(result["outcome"]), Kind=kind)
    observability.metric("BuildDuration", round((time.monotonic() - started) * 1000), "Milliseconds", Kind=kind)
    return result


def _run(model: type[T], item_id: int, job_id: str, work: Any) -> dict[str, Any]:
    item = repository.get(model, item_id)
    if item is None or item.job_id != job_id:
        return {"outcome": "skipped", "reason": "the job was replaced or the item removed"}
    now = now_ms()
    if not repository.start_job(item, job_id, job_deadline(now), now):
        item = repository.get(model, item_id)
        if item is not None and item.job_id == job_id and item.job_started_at is not None:
            fail(item, job_id, "The previous attempt at this job stopped before finishing; run it again.", None)
            return {"outcome": "broken", "reason": "retried invocation"}
        return {"outcome": "skipped", "reason": "the job was replaced"}
    output = BuildLog()
    try:
        actions = work(item, output)
    except BuildFailed as e:
        output.add(f"FAILED: {e}")
        fail(item, job_id, str(e), output)
        return {"outcome": "broken", "error": str(e)}
    except Exception as e:  # a bug or an outage: logged in full, reported briefly
        log.exception("build_worker: job %s of %s %s failed", job_id, model.__name__, item_id)
        output.add(f"FAILED: unexpected {type(e).__name__}")
        fail(item, job_id, f"The job failed unexpectedly ({type(e).__name__}); try again.", output)
        return {"outcome": "broken", "error": type(e).__name__}
    if not repository.end_job(item, job_id, actions, now_ms()):
        return {"outcome": "discarded", "reason": "the job was replaced while it ran"}
    return {"outcome": "done", "status": item.status}


def job_deadline(now: int) -> int:
    """When a job started or queued at ``now`` is overdue (its worker is taken for dead)."""
    return now + get_settings().build_timeout_seconds * 1000


def fail(item: Project | Blueprint, job_id: str, message: str, output: BuildLog | None) -> bool:
    """End a job broken with a message for the user (and the output, when there is one)."""
    model = type(item)
    actions = [model.status.set("broken"), model.error_message.set(message[:MAX_ERROR])]
    if output is not None:
        actions.append(model.output.set(output.text()))
    return repository.end_job(item, job_id, actions, now_ms())


# --- overdue jobs --------------------------------------------------------------------------------------------


def _overdue_message(item: Project | Blueprint) -> str:
    what = "repository update" if isinstance(item, Blueprint) else "build"
    seconds = get_settings().build_timeout_seconds
    return f"The {what} did not finish within {seconds} seconds: its worker stopped (timed out or crashed). Try again."


def expire_if_overdue(item: T, *, partial: bool = False) -> T:
    """The item, its job ended ``broken`` first if the job is past its deadline (a dead worker).

    ``partial`` items come from a list index: the full item is read before it is written.
    """
    now = now_ms()
    if not item.job_id or item.job_deadline is None or int(item.job_deadline) >= now:
        return item
    full = repository.get(type(item), int(item.id)) if partial else item
    if full is None or not full.job_id:
        return full or item
    model = type(full)
    actions = [model.status.set("broken"), model.error_message.set(_overdue_message(full))]
    if repository.end_job(full, str(full.job_id), actions, now, expired_only=True):
        log.warning("%s %s: job %s was overdue and is now broken", model.__name__, full.id, full.job_id)
    return full


def sweep(limit: int = 100) -> dict[str, int]:
    """The scheduled check: every job past its deadline ends broken (a Query of the sparse ``jobs`` index)."""
    now = now_ms()
    ended: dict[str, int] = {}
    models: tuple[type[Project] | type[Blueprint], ...] = (Project, Blueprint)
    for model in models:
        count = 0
        for item_id, _job_id in repository.expired_jobs(model, now, limit):
            item: Project | Blueprint | None = repository.get(model, item_id)
            if item is not None and item.job_id and item.job_deadline is not None and int(item.job_deadline) < now:
                expire_if_overdue(item)
                count += 1
        ended[model.__name__.lower() + "s"] = count
    return ended


# --- project builds ------------------------------------------------------------------------------------------


def target_url(target: str, slug: str) -> str:
    """Where a build of ``slug`` is served: the preview or publish base URL, then the slug."""
    settings = get_settings()
    base = settings.publish_base_url if target == "publish" else settings.preview_base_url
    return f"{base}/{slug}/"


def compose(project: Project, theme: Theme, group: Group | None, target: str) -> dict[str, Any]:
    """The build data: the project's data, then what Autotune adds to it."""
    url = target_url(target, str(project.slug))
    data = dict(project.data or {})
    data.update(
        {
            "title": project.title,
            "slug": project.slug,
            "theme": theme.slug,
            "group": group.slug if group is not None else None,
            "theme_data": theme.data or {},
            "base_url": url,
            "asset_base_url": url,
            "build_type": target,
        }
    )
    return data


def embed_height(config: dict[str, Any] | None) -> int | None:
    """The height a blueprint's config asks its embeds to have, when it is a sensible number of pixels."""
    height = (config or {}).get("embed_height")
    sensible = isinstance(height, int) and not isinstance(height, bool) and 0 < height < MAX_EMBED_HEIGHT
    return height if sensible else None


def _build_project(project: Project, output: BuildLog) -> list[Any]:
    blueprint = repository.get(Blueprint, int(project.blueprint_id))
    if blueprint is None:
        raise BuildFailed("The project's blueprint no longer exists.")
    theme = repository.get(Theme, int(project.theme_id))
    if theme is None:
        raise BuildFailed("The project's theme no longer exists.")
    group = repository.get(Group, int(project.group_id))
    kind = str(project.job_kind or "build")
    version = blueprint.version if kind == "upgrade" else (project.blueprint_version or blueprint.version)
    if not version:
        raise BuildFailed("The blueprint has no version yet: update its repository first.")
    output.add(f"Blueprint {blueprint.slug}: fetching {gitrepo.display_url(str(blueprint.repo_url))} at {version}")
    snapshot = gitrepo.read(str(blueprint.repo_url), str(version))
    config = gitrepo.config_of(snapshot)
    output.add(f"Read {len(snapshot.files)} files; type {config['type']}")
    targets = ("preview", "publish") if kind == "publish" else ("preview",)
    for target in targets:
        data = compose(project, theme, group, target)
        files = render.render_site(snapshot.files, config, data)
        output.add(f"Rendered {target}: {len(files)} files ({sum(len(b) for b in files.values())} bytes)")
        _upload(files, target, str(project.slug), output)
    actions = [
        Project.status.set("built"),
        Project.built.set(True),
        Project.error_message.remove(),
        Project.blueprint_version.set(str(version)),
        Project.blueprint_config.set(config),
        Project.type.set(str(config["type"])),
        Project.preview_url.set(target_url("preview", str(project.slug))),
    ]
    height = embed_height(config)
    if height is not None:
        actions.append(Project.embed_height.set(height))
    if kind == "publish":
        actions += [
            Project.publish_url.set(target_url("publish", str(project.slug))),
            Project.published_at.set(now_ms()),
        ]
    output.add("Done.")
    return [*actions, Project.output.set(output.text())]


def _upload(files: dict[str, bytes], target: str, slug: str, output: BuildLog) -> None:
    """Put every file under ``<target>/<slug>/`` and remove what an earlier build left there."""
    bucket = get_settings().publish_bucket
    prefix = f"{target}/{slug}/"
    s3 = aws.client("s3")
    cache = "no-cache" if target == "preview" else "public, max-age=60"
    try:
        for path, body in sorted(files.items()):
            s3.put_object(
                Bucket=bucket, Key=prefix + path, Body=body, ContentType=_content_type(path), CacheControl=cache
            )
        stale = [key for key in _keys(s3, bucket, prefix) if key[len(prefix) :] not in files]
        _delete(s3, bucket, stale)
    except (BotoCoreError, ClientError) as e:
        raise BuildFailed(f"Uploading the {target} to storage failed; try again. ({type(e).__name__})") from e
    output.add(f"Uploaded {len(files)} files to s3://{bucket}/{prefix}" + (f", removed {len(stale)}" if stale else ""))


def _content_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path)
    guessed = guessed or "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/javascript", "application/json", "image/svg+xml"):
        return f"{guessed}; charset=utf-8"
    return guessed


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(str(item["Key"]) for item in page.get("Contents", []))
    return keys


def _delete(s3: Any, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})


def remove_outputs(slug: str) -> None:
    """Delete a project's preview and published files (when the project is deleted)."""
    bucket = get_settings().publish_bucket
    s3 = aws.client("s3")
    try:
        for target in TARGETS:
            _delete(s3, bucket, _keys(s3, bucket, f"{target}/{slug}/"))
    except (BotoCoreError, ClientError, ServiceUnavailable):  # the project is deleted: its answer stands
        log.exception("could not remove the files of project %s", slug)


# --- blueprint updates ----------------------------------------------------------------------------------------


def _update_blueprint(blueprint: Blueprint, output: BuildLog) -> list[Any]:
    output.add(f"Fetching {gitrepo.display_url(str(blueprint.repo_url))}")
    snapshot = gitrepo.read(str(blueprint.repo_url), None)
    config = gitrepo.config_of(snapshot)
    output.add(f"Commit {snapshot.commit}: {len(snapshot.files)} files; type {config['type']}")
    status = "testing" if blueprint.mode == "testing" else "ready"
    actions = [
        Blueprint.status.set(status),
        Blueprint.version.set(snapshot.commit),
        Blueprint.config.set(config),
        Blueprint.type.set(str(config["type"])),
        Blueprint.error_message.remove(),
    ]
    thumbnail = config.get("thumbnail")
    if not blueprint.thumb_url and isinstance(thumbnail, str) and thumbnail.startswith(("https://", "http://")):
        actions.append(Blueprint.thumb_url.set(thumbnail))
    output.add(f"Done: {status}.")
    actions.append(Blueprint.output.set(output.text()))
    return actions
