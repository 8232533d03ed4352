"""Blueprints of the publishing API: the repositories projects are built from; only superusers write them."""

from __future__ import annotations

from typing import Any

from chalicelib import dynamo, errors
from chalicelib.http import iso_ms, now_ms
from chalicelib.publishing import access, builds, fields, gitrepo, jobs, lookup, repository, slugs
from chalicelib.publishing.accounts import Actor
from chalicelib.publishing.fields import Listing, Paging
from chalicelib.publishing.models import Blueprint, Project

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


# --- changes --------------------------------------------------------------------------------------


def create_blueprint(actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    """POST /blueprints (superusers): the blueprint, and its first repository update queued."""
    access.require_superuser(actor, "Only superusers can create blueprints.")
    from chalicelib.publishing.bodies import checked  # pydantic: with a body only (cold start)
    from chalicelib.publishing.contracts import AutotuneBlueprintInput

    given, refused = checked(AutotuneBlueprintInput, body, create=True)
    problems = list(refused.values())
    fields.refuse(problems)
    assert given is not None
    title, repo_url, requested_slug, thumb_url = given.title, given.repo_url, given.slug, given.thumb_url
    mode = given.mode or "ready"
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
    from chalicelib.publishing.bodies import checked  # pydantic: with a body only (cold start)
    from chalicelib.publishing.contracts import AutotuneBlueprintUpdate

    given, refused = checked(AutotuneBlueprintUpdate, body, create=False)
    problems = list(refused.values())
    if body.get("status") is not None and "status" not in refused and not blueprint.version:
        problems.append("Status can only be set once the repository has been loaded")
    fields.refuse(problems)
    assert given is not None
    title, repo_url, requested_slug, thumb_url = given.title, given.repo_url, given.slug, given.thumb_url
    mode, status = given.mode, given.status
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
