"""Blueprints of the publishing API: the repositories projects are built from; only superusers write them."""

from __future__ import annotations

from typing import Any

from chalicelib import dynamo, errors
from chalicelib.http import iso_ms, now_ms
from chalicelib.publishing import access, builds, fields, gitrepo, jobs, lookup, repository, slugs
from chalicelib.publishing.accounts import Actor
from chalicelib.publishing.fields import Listing, Paging
from chalicelib.publishing.models import Blueprint, Project
from chalicelib.settings import get_settings

STATUSES = ("new", "updating", "testing", "ready", "broken")
MODES = ("testing", "ready", "retired")


def list_blueprints(actor: Actor, filters: dict[str, str], paging: Paging) -> Listing:
    """GET /blueprints: newest update first; others than superusers see blueprints in ``ready`` mode."""
    problems: list[str] = []
    kind = fields.choice(filters.get("type"), fields.TYPES, "type", problems)
    status = fields.choice(filters.get("status"), STATUSES, "status", problems)
    fields.refuse(problems)
    search = fields.search_term(filters.get("search"))
    condition = fields.all_of(
        [
            Blueprint.type == kind if kind else None,
            Blueprint.status == status if status else None,
            Blueprint.search_text.contains(search) if search else None,
            Blueprint.mode == "ready" if not actor.superuser else None,
        ]
    )
    partition = repository.all_blueprints()
    partition = repository.Partition(partition.index, partition.hash_key, condition)
    total, items = repository.page([partition], paging.offset, paging.per_page)
    items = [builds.expire_if_overdue(item) for item in items]
    return Listing([blueprint_view(b, actor) for b in items], total, paging)


def blueprint_view(blueprint: Blueprint, actor: Actor) -> dict[str, Any]:
    view: dict[str, Any] = {
        "status": blueprint.status,
        "id": int(blueprint.id),
        "slug": blueprint.slug,
        "title": blueprint.title,
        "repo_url": gitrepo.shown_url(str(blueprint.repo_url)),
        "thumb_url": blueprint.thumb_url,
        "type": blueprint.type,
        "mode": blueprint.mode,
        "config": blueprint.config,
        "version": blueprint.version,
        "error_message": blueprint.error_message,
        "created_at": iso_ms(blueprint.created_at),
        "updated_at": iso_ms(blueprint.updated_at),
    }
    if actor.superuser:
        view["output"] = blueprint.output
    return view


# --- fields ---------------------------------------------------------------------------------------


def _repo_url(value: Any, problems: list[str], *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            problems.append("Repo url can't be blank")
        return None
    if not isinstance(value, str) or len(value) > 1000:
        problems.append("Repo url must be a string")
        return None
    if gitrepo.carries_credentials(value.strip()):
        problems.append(gitrepo.CREDENTIALS_IN_URL)  # refused, never stored: every author can read a blueprint
        return None
    try:
        return gitrepo.validate_url(value.strip(), allow_local=get_settings().allow_local_repos)
    except gitrepo.InvalidRepoUrl as e:
        problems.append(str(e))
        return None


def _thumb_url(value: Any, problems: list[str]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(("https://", "http://", "/")) or len(value) > 2000:
        problems.append("Thumb url must be an http(s) URL")
        return None
    return value


# --- changes --------------------------------------------------------------------------------------


def create_blueprint(actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    """POST /blueprints (superusers): the blueprint, and its first repository update queued."""
    access.require_superuser(actor, "Only superusers can create blueprints.")
    problems: list[str] = []
    title = fields.title(body.get("title"), problems, required=True)
    repo_url = _repo_url(body.get("repo_url"), problems, required=True)
    requested_slug = fields.slug(body.get("slug"), problems)
    thumb_url = _thumb_url(body.get("thumb_url"), problems)
    mode = fields.choice(body.get("mode"), MODES, "Mode", problems) or "ready"
    fields.refuse(problems)
    assert title is not None and repo_url is not None
    now = now_ms()
    blueprint = Blueprint(
        repository.next_id("blueprint"),
        title=title,
        repo_url=repo_url,
        thumb_url=thumb_url,
        status="updating",
        mode=mode,
        search_text=title.lower(),
        created_at=now,
        updated_at=now,
    )
    job_id = jobs.set_job(blueprint, "update_repo", now)
    repository.create_with_slug("blueprint", blueprint, slugs.slug_from(requested_slug or title, "blueprint"))
    jobs.dispatch(blueprint, job_id)
    return blueprint_view(blueprint, actor)


def get_blueprint(actor: Actor, ref: str) -> dict[str, Any]:
    """GET /blueprints/{id}."""
    return blueprint_view(lookup.find_blueprint(ref), actor)


def update_blueprint(actor: Actor, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    """PUT|PATCH /blueprints/{id} (superusers): title, slug, repo_url (queues an update), thumb_url, mode, status."""
    access.require_superuser(actor, "Only superusers can change blueprints.")
    for _ in range(3):
        try:
            return _update_blueprint(actor, lookup.find_blueprint(ref), body)
        except dynamo.Stale:
            continue  # the worker moved it meanwhile: read it again
    raise dynamo.Stale()


def _update_blueprint(actor: Actor, blueprint: Blueprint, body: dict[str, Any]) -> dict[str, Any]:
    problems: list[str] = []
    title = fields.title(body.get("title"), problems, required=False)
    repo_url = _repo_url(body.get("repo_url"), problems, required=False)
    requested_slug = fields.slug(body.get("slug"), problems)
    thumb_url = _thumb_url(body.get("thumb_url"), problems) if "thumb_url" in body else None
    mode = fields.choice(body.get("mode"), MODES, "Mode", problems)
    status = fields.choice(body.get("status"), ("testing", "ready"), "Status", problems)
    if status is not None and not blueprint.version:
        problems.append("Status can only be set once the repository has been loaded")
    fields.refuse(problems)
    now = now_ms()
    if title is not None:
        blueprint.title = title
        blueprint.search_text = title.lower()
    if "thumb_url" in body:
        blueprint.thumb_url = thumb_url
    if status is not None:  # Autotune's way of taking a blueprint out of testing: {"status": "ready"}
        blueprint.status = status
        blueprint.mode = status
    if mode is not None:
        blueprint.mode = mode
    job_id = None
    if repo_url is not None and repo_url != blueprint.repo_url:
        if jobs.has_job(blueprint, now):
            raise jobs.JobInProgress(jobs.UPDATE_RUNNING)
        blueprint.repo_url = repo_url
        blueprint.status = "updating"
        job_id = jobs.set_job(blueprint, "update_repo", now)
    blueprint.updated_at = now
    base = slugs.slug_from(requested_slug, "blueprint") if requested_slug is not None else None
    repository.save_with_slug("blueprint", blueprint, str(blueprint.slug), base)
    if job_id is not None:
        jobs.dispatch(blueprint, job_id)
    return blueprint_view(blueprint, actor)


def delete_blueprint(actor: Actor, ref: str) -> None:
    """DELETE /blueprints/{id} (superusers): refused while projects use it."""
    access.require_superuser(actor, "Only superusers can delete blueprints.")
    blueprint = lookup.find_blueprint(ref)
    if repository.projects_in_use(Project.by_blueprint, int(blueprint.id)):
        raise errors.Conflict("Projects use this blueprint; delete them first, or retire it (mode: retired).")
    repository.delete_with_claims("blueprint", blueprint)


def update_repo(actor: Actor, ref: str) -> None:
    """GET /blueprints/{id}/update_repo (superusers): load the repository's latest commit (202)."""
    access.require_superuser(actor, "Only superusers can update blueprints.")
    jobs.queue(lookup.find_blueprint(ref), "update_repo", "updating", jobs.UPDATE_RUNNING)
