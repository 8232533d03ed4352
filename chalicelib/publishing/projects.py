"""Projects of the publishing API: who sees which, their views, and the builds their changes queue."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from chalicelib import dynamo, errors
from chalicelib.http import iso_ms, now_ms
from chalicelib.publishing import access, builds, fields, jobs, lookup, repository, slugs
from chalicelib.publishing.accounts import Actor
from chalicelib.publishing.fields import Listing, Paging
from chalicelib.publishing.models import Blueprint, Group, Project, Theme, User

STATUSES = ("new", "updating", "updated", "building", "built", "broken")
PUB_STATUSES = ("published", "draft")
SCREENSHOTS = ("sm", "md", "lg", "sm2x", "md2x", "lg2x")


# --- lists ----------------------------------------------------------------------------------------


def project_partitions(actor: Actor, filters: dict[str, str]) -> list[repository.Partition]:
    """The disjoint index partitions holding exactly the projects this actor may see and asked for."""
    problems: list[str] = []
    theme = lookup.named_theme(filters["theme"], problems) if "theme" in filters else None
    group = lookup.named_group(filters["group"], problems) if "group" in filters else None
    blueprint = lookup.named_blueprint(filters["blueprint"], problems) if "blueprint" in filters else None
    status = fields.choice(filters.get("status"), STATUSES, "status", problems)
    kind = fields.choice(filters.get("type"), fields.TYPES, "type", problems)
    pub_status = fields.choice(filters.get("pub_status"), PUB_STATUSES, "pub_status", problems)
    fields.refuse(problems)
    if theme is not None and group is not None and int(theme.group_id) != int(group.id):
        return []  # the theme is in another group: nothing matches both
    search = fields.search_term(filters.get("search"))
    common = [
        Project.status == status if status else None,
        Project.type == kind if kind else None,
        Project.published_at.exists() if pub_status == "published" else None,
        Project.published_at.does_not_exist() if pub_status == "draft" else None,
        Project.search_text.contains(search) if search else None,
    ]
    by_theme = Project.theme_id == theme.id if theme is not None else None
    by_blueprint = Project.blueprint_id == blueprint.id if blueprint is not None else None
    scope = int(theme.group_id) if theme is not None else (int(group.id) if group is not None else None)

    if actor.superuser:
        if theme is not None:
            return [repository.Partition(Project.by_theme, int(theme.id), fields.all_of([*common, by_blueprint]))]
        if group is not None:
            return [repository.Partition(Project.by_group, int(group.id), fields.all_of([*common, by_blueprint]))]
        if blueprint is not None:
            return [repository.Partition(Project.by_blueprint, int(blueprint.id), fields.all_of(common))]
        return [repository.Partition(Project.all_projects, "project", fields.all_of(common))]

    editing = sorted(actor.groups_at_least("editor"))
    groups = [g for g in editing if scope is None or g == scope]
    partitions = [
        repository.Partition(Project.by_group, g, fields.all_of([*common, by_theme, by_blueprint])) for g in groups
    ]
    if scope is None or scope not in editing:
        # The actor's own projects outside the groups listed above (so no project is counted twice).
        own = [
            *common,
            by_theme,
            by_blueprint,
            Project.group_id == scope if scope is not None else None,
            ~Project.group_id.is_in(*editing) if editing and scope is None else None,
        ]
        partitions.append(repository.Partition(Project.by_user, actor.id, fields.all_of(own)))
    return partitions


def list_projects(actor: Actor, filters: dict[str, str], paging: Paging) -> Listing:
    """GET /projects: newest update first, filtered, one page."""
    partitions = project_partitions(actor, filters)
    total, items = repository.page(partitions, paging.offset, paging.per_page)
    items = [builds.expire_if_overdue(item, partial=True) for item in items]
    context = Context.of(items)
    return Listing([project_list_view(p, context) for p in items], total, paging)


# --- views ----------------------------------------------------------------------------------------


@dataclass
class Context:
    """The users, themes, groups and blueprints a page of projects names, read in batches."""

    users: dict[int, User]
    themes: dict[int, Theme]
    groups: dict[int, Group]
    blueprints: dict[int, Blueprint]

    @classmethod
    def of(cls, projects: list[Project]) -> Context:
        return cls(
            users=repository.get_many(User, {int(p.user_id) for p in projects}),
            themes=repository.get_many(Theme, {int(p.theme_id) for p in projects}),
            groups=repository.get_many(Group, {int(p.group_id) for p in projects}),
            blueprints=repository.get_many(Blueprint, {int(p.blueprint_id) for p in projects}),
        )


def embed_html(project: Project) -> str | None:
    """The iframe that embeds the published project (None until it is published)."""
    if not project.publish_url:
        return None
    height = int(project.embed_height) if project.embed_height else 500
    return (
        f'<iframe src="{escape(project.publish_url)}" title="{escape(project.title)}" width="100%" '
        f'height="{height}" frameborder="0" scrolling="no" style="border:0;width:100%"></iframe>'
    )


def project_list_view(project: Project, context: Context) -> dict[str, Any]:
    """A project as the list shows it."""
    user = context.users.get(int(project.user_id))
    theme = context.themes.get(int(project.theme_id))
    group = context.groups.get(int(project.group_id))
    blueprint = context.blueprints.get(int(project.blueprint_id))
    view: dict[str, Any] = {
        "status": project.status,
        "id": int(project.id),
        "slug": project.slug,
        "title": project.title,
        "built": bool(project.built),
        "preview_url": project.preview_url,
        "publish_url": project.publish_url,
        "type": project.type,
    }
    view.update({f"screenshot_{size}_url": None for size in SCREENSHOTS})
    view.update(
        {
            "blueprint_id": int(project.blueprint_id),
            "blueprint_title": blueprint.title if blueprint else None,
            "blueprint_version": project.blueprint_version,
            "theme": theme.slug if theme else None,
            "group": group.slug if group else None,
            "created_by": user.name if user else None,
            "user_id": int(project.user_id),
            "created_at": iso_ms(project.created_at),
            "updated_at": iso_ms(project.updated_at),
            "published_at": iso_ms(project.published_at),
            "data_updated_at": iso_ms(project.data_updated_at),
            "embed_html": embed_html(project),
        }
    )
    return view


def project_view(project: Project, actor: Actor, context: Context | None = None) -> dict[str, Any]:
    """A project as the single view shows it: the list's fields, its data and config, and its last build."""
    context = context or Context.of([project])
    theme = context.themes.get(int(project.theme_id))
    view = project_list_view(project, context)
    view.update(
        {
            "blueprint_config": project.blueprint_config,
            "slug_sans_theme": slugs.sans_theme(project.slug, theme.slug) if theme else project.slug,
            "data": project.data or {},
            "error_message": project.error_message,
        }
    )
    if actor.superuser:
        view["output"] = project.output
    return view


# --- changes --------------------------------------------------------------------------------------


def _search_text(title: str, author: User | None) -> str:
    parts = [title, str(author.name) if author else "", str(author.email) if author else ""]
    return "\n".join(parts).lower()


def create_project(actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    """POST /projects: the project, its slug from the title under the theme's, and its first build queued."""
    from chalicelib.publishing.bodies import checked  # pydantic: with a body only (cold start)
    from chalicelib.publishing.contracts import AutotuneProjectInput

    given, refused = checked(AutotuneProjectInput, body, create=True)
    problems = list(refused.values())
    blueprint = theme = None
    if body.get("blueprint") in (None, ""):
        problems.append("Blueprint can't be blank")
    else:
        blueprint = lookup.named_blueprint(body["blueprint"], problems)
    if body.get("theme") in (None, ""):
        problems.append("Theme can't be blank")
    else:
        theme = lookup.named_theme(body["theme"], problems)
    if blueprint is not None:
        access.usable_blueprint(actor, blueprint, problems)
    fields.refuse(problems)
    assert given is not None and blueprint is not None and theme is not None
    title, requested_slug, data = given.title, given.slug, given.data
    access.usable_theme(actor, theme)
    now = now_ms()
    project = Project(
        repository.next_id("project"),
        title=title,
        status="building",
        type=blueprint.type,
        user_id=actor.id,
        group_id=int(theme.group_id),
        theme_id=int(theme.id),
        blueprint_id=int(blueprint.id),
        blueprint_version=blueprint.version,
        blueprint_config=blueprint.config,
        embed_height=builds.embed_height(blueprint.config),
        data=data or {},
        search_text=_search_text(title, actor.user),
        created_at=now,
        updated_at=now,
        data_updated_at=now,
    )
    job_id = jobs.set_job(project, "build", now)
    base = slugs.with_theme(slugs.slug_from(requested_slug or title, "project"), str(theme.slug))
    repository.create_with_slug("project", project, base)
    jobs.dispatch(project, job_id)
    group = repository.get(Group, int(theme.group_id))
    context = Context(
        users={actor.id: actor.user},
        themes={int(theme.id): theme},
        groups={int(group.id): group} if group else {},
        blueprints={int(blueprint.id): blueprint},
    )
    return project_view(project, actor, context)


def _editable(actor: Actor, ref: str) -> Project:
    project = lookup.find_project(ref)
    access.require_project(actor, project)
    return project


def get_project(actor: Actor, ref: str) -> dict[str, Any]:
    """GET /projects/{id}."""
    return project_view(_editable(actor, ref), actor)


def update_project(actor: Actor, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    """PUT|PATCH /projects/{id}: title, theme, slug and data (replaced, not merged); then a build is queued."""
    for _ in range(3):
        project = _editable(actor, ref)
        try:
            return _update_project(actor, project, body)
        except dynamo.Stale:
            continue  # the worker or another request wrote it meanwhile: read it again
    raise dynamo.Stale()


def _update_project(actor: Actor, project: Project, body: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.publishing.bodies import checked  # pydantic: with a body only (cold start)
    from chalicelib.publishing.contracts import AutotuneProjectUpdate

    given, refused = checked(AutotuneProjectUpdate, body, create=False)
    problems = list(refused.values())
    theme = lookup.named_theme(body["theme"], problems) if body.get("theme") not in (None, "") else None
    fields.refuse(problems)
    assert given is not None
    title, requested_slug, data = given.title, given.slug, given.data
    now = now_ms()
    if jobs.has_job(project, now):
        raise jobs.JobInProgress(jobs.BUILD_RUNNING)
    current_theme = repository.get(Theme, int(project.theme_id))
    old_theme_slug = str(current_theme.slug) if current_theme else ""
    if theme is not None and int(theme.id) != int(project.theme_id):
        access.usable_theme(actor, theme)
        project.theme_id = int(theme.id)
        project.group_id = int(theme.group_id)
    theme_slug = str(theme.slug) if theme is not None else old_theme_slug
    if title is not None:
        project.title = title
        author = repository.get(User, int(project.user_id))
        project.search_text = _search_text(title, author)
    if "data" in body:
        project.data = data or {}
        project.data_updated_at = now
    old_slug = str(project.slug)
    base = None
    if requested_slug is not None:
        base = slugs.with_theme(slugs.slug_from(requested_slug, "project"), theme_slug)
    elif theme_slug != old_theme_slug:
        base = slugs.with_theme(slugs.sans_theme(old_slug, old_theme_slug), theme_slug)
    project.updated_at = now
    project.status = "building"
    project.error_message = None
    job_id = jobs.set_job(project, "build", now)
    repository.save_with_slug("project", project, old_slug, base)
    jobs.dispatch(project, job_id)
    return project_view(project, actor)


def delete_project(actor: Actor, ref: str) -> None:
    """DELETE /projects/{id}: the project, its slug, and its preview and published files."""
    project = _editable(actor, ref)
    repository.delete_with_claims("project", project)
    builds.remove_outputs(str(project.slug))


def queue_project_job(actor: Actor, ref: str, kind: str) -> None:
    """GET /projects/{id}/build, /build_and_publish, /update_snapshot: queue it (202), or 409 if one runs."""
    project = _editable(actor, ref)
    if kind == "upgrade":
        blueprint = repository.get(Blueprint, int(project.blueprint_id))
        if blueprint is None or not blueprint.version:
            raise errors.BadRequest("The project's blueprint has no version to upgrade to.", code="not_ready")
    jobs.queue(project, kind, "updating" if kind == "upgrade" else "building", jobs.BUILD_RUNNING)
