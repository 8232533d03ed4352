"""Rules of the publishing API (Autotune's): projects, blueprints and themes, who may do what, their views.

Roles are per group: authors see and change their own projects, editors and designers those of their
groups, designers also their groups' themes; superusers everything, and only they write blueprints.
Builds and repository updates are queued here (one at a time per item, settled by a conditional
write) and run by the build worker (``builds.py``) off the request path.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from chalicelib import dynamo, errors
from chalicelib.http import iso_ms, now_ms, parse_id
from chalicelib.publishing import builds, repository, slugs
from chalicelib.publishing.accounts import Actor, default_group, find_group
from chalicelib.publishing.models import Blueprint, Group, Project, Theme, User
from chalicelib.settings import get_settings

M = TypeVar("M")

PROJECT_STATUSES = ("new", "updating", "updated", "building", "built", "broken")
BLUEPRINT_STATUSES = ("new", "updating", "testing", "ready", "broken")
BLUEPRINT_MODES = ("testing", "ready", "retired")
THEME_STATUSES = ("new", "updating", "ready", "broken")
TYPES = ("graphic", "app")
PUB_STATUSES = ("published", "draft")
MAX_DATA_BYTES = 200_000
MAX_TITLE = 200
SCREENSHOTS = ("sm", "md", "lg", "sm2x", "md2x", "lg2x")


class UnknownProject(errors.NotFound):
    code = "unknown_project"
    default_message = "No project has this id or slug."


class UnknownBlueprint(errors.NotFound):
    code = "unknown_blueprint"
    default_message = "No blueprint has this id or slug."


class UnknownTheme(errors.NotFound):
    code = "unknown_theme"
    default_message = "No theme has this id or slug."


class JobInProgress(errors.Conflict):
    code = "job_in_progress"
    default_message = "A build of this project is already queued or running; try again when it is done."


@dataclass(frozen=True)
class Paging:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass
class Listing:
    """One page of a list and the total it was cut from."""

    items: list[dict[str, Any]]
    total: int
    paging: Paging


# --- finding things -------------------------------------------------------------------------------


def _find(model: type[M], kind: str, ref: Any) -> M | None:
    if isinstance(ref, bool) or not isinstance(ref, str | int):
        return None
    text = str(ref).strip()
    number = parse_id(text)
    if number is not None:
        return repository.get(model, number)
    if not text or len(text) > 200 or slugs.reads_as_id(text):
        return None
    return repository.get_by_slug(model, kind, text.lower())


def find_project(ref: str) -> Project:
    found = _find(Project, "project", ref)
    if found is None:
        raise UnknownProject(f"No project has the id or slug '{ref[:200]}'.")
    return builds.expire_if_overdue(found)


def find_blueprint(ref: str) -> Blueprint:
    found = _find(Blueprint, "blueprint", ref)
    if found is None:
        raise UnknownBlueprint(f"No blueprint has the id or slug '{ref[:200]}'.")
    return builds.expire_if_overdue(found)


def find_theme(ref: str) -> Theme:
    found = _find(Theme, "theme", ref)
    if found is None:
        raise UnknownTheme(f"No theme has the id or slug '{ref[:200]}'.")
    return found


def _named(finder: Callable[[Any], M | None], kind: str, value: Any, problems: list[str]) -> M | None:
    """A theme, blueprint or group named in a body or filter; a problem when there is none."""
    found = finder(value)
    if found is None:
        problems.append(f"{kind.capitalize()} '{str(value)[:200]}' does not exist")
    return found


def _group_or_none(ref: Any) -> Group | None:
    try:
        return find_group(ref)
    except errors.NotFound:
        return None


def _raise(problems: list[str]) -> None:
    if problems:
        raise errors.BadRequest(", ".join(problems), code="invalid")


# --- permissions ----------------------------------------------------------------------------------


def can_edit_project(actor: Actor, project: Project) -> bool:
    """Superusers; the author; editors and designers of the project's group."""
    return actor.superuser or int(project.user_id) == actor.id or actor.rank_in(int(project.group_id)) >= 2


def _require_project(actor: Actor, project: Project) -> None:
    if not can_edit_project(actor, project):
        raise errors.Forbidden("You are not allowed to see or change this project.")


def _require_superuser(actor: Actor, message: str) -> None:
    if not actor.superuser:
        raise errors.Forbidden(message)


def _require_designer(actor: Actor, group_id: int) -> None:
    if actor.rank_in(group_id) < 3:
        raise errors.Forbidden("Only designers of the theme's group and superusers can change themes.")


# --- field checks ---------------------------------------------------------------------------------


def _title(value: Any, problems: list[str], *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append("Title can't be blank")
        return None
    if not isinstance(value, str) or len(value) > MAX_TITLE:
        problems.append(f"Title must be a string of at most {MAX_TITLE} characters")
        return None
    return value.strip()


def _slug(value: Any, problems: list[str]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 200:
        problems.append("Slug must be a string of at most 200 characters")
        return None
    return value


def _data(value: Any, problems: list[str], name: str = "Data") -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append(f"{name} must be an object")
        return None
    if len(json.dumps(value, separators=(",", ":"))) > MAX_DATA_BYTES:
        problems.append(f"{name} must be at most {MAX_DATA_BYTES} bytes of JSON")
        return None
    return value


def _choice(value: Any, choices: tuple[str, ...], name: str, problems: list[str]) -> str | None:
    if value is None:
        return None
    if value not in choices:
        problems.append(f"{name} must be one of {', '.join(choices)}")
        return None
    return str(value)


# --- lists ----------------------------------------------------------------------------------------


def _all(conditions: Iterable[Any]) -> Any:
    combined = None
    for condition in conditions:
        if condition is not None:
            combined = condition if combined is None else combined & condition
    return combined


def _search(value: str | None) -> str | None:
    return value.strip().lower() if value and value.strip() else None


def project_partitions(actor: Actor, filters: dict[str, str]) -> list[repository.Partition]:
    """The disjoint index partitions holding exactly the projects this actor may see and asked for."""
    problems: list[str] = []
    theme = (
        _named(lambda r: _find(Theme, "theme", r), "theme", filters["theme"], problems) if "theme" in filters else None
    )
    group = _named(_group_or_none, "group", filters["group"], problems) if "group" in filters else None
    blueprint = (
        _named(lambda r: _find(Blueprint, "blueprint", r), "blueprint", filters["blueprint"], problems)
        if "blueprint" in filters
        else None
    )
    status = _choice(filters.get("status"), PROJECT_STATUSES, "status", problems)
    kind = _choice(filters.get("type"), TYPES, "type", problems)
    pub_status = _choice(filters.get("pub_status"), PUB_STATUSES, "pub_status", problems)
    _raise(problems)
    if theme is not None and group is not None and int(theme.group_id) != int(group.id):
        return []  # the theme is in another group: nothing matches both
    search = _search(filters.get("search"))
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
            return [repository.Partition(Project.by_theme, int(theme.id), _all([*common, by_blueprint]))]
        if group is not None:
            return [repository.Partition(Project.by_group, int(group.id), _all([*common, by_blueprint]))]
        if blueprint is not None:
            return [repository.Partition(Project.by_blueprint, int(blueprint.id), _all(common))]
        return [repository.Partition(Project.all_projects, "project", _all(common))]

    editing = sorted(actor.groups_at_least("editor"))
    groups = [g for g in editing if scope is None or g == scope]
    partitions = [repository.Partition(Project.by_group, g, _all([*common, by_theme, by_blueprint])) for g in groups]
    if scope is None or scope not in editing:
        # The actor's own projects outside the groups listed above (so no project is counted twice).
        own = [
            *common,
            by_theme,
            by_blueprint,
            Project.group_id == scope if scope is not None else None,
            ~Project.group_id.is_in(*editing) if editing and scope is None else None,
        ]
        partitions.append(repository.Partition(Project.by_user, actor.id, _all(own)))
    return partitions


def list_projects(actor: Actor, filters: dict[str, str], paging: Paging) -> Listing:
    """GET /projects: newest update first, filtered, one page."""
    partitions = project_partitions(actor, filters)
    total, items = repository.page(partitions, paging.offset, paging.per_page) if partitions else (0, [])
    items = [builds.expire_if_overdue(item, partial=True) for item in items]
    context = Context.of(items)
    return Listing([project_list_view(p, context) for p in items], total, paging)


def list_blueprints(actor: Actor, filters: dict[str, str], paging: Paging) -> Listing:
    """GET /blueprints: newest update first; others than superusers see blueprints in ``ready`` mode."""
    problems: list[str] = []
    kind = _choice(filters.get("type"), TYPES, "type", problems)
    status = _choice(filters.get("status"), BLUEPRINT_STATUSES, "status", problems)
    _raise(problems)
    search = _search(filters.get("search"))
    condition = _all(
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


def list_themes(actor: Actor, filters: dict[str, str], paging: Paging) -> Listing:
    """GET /themes: the themes of the actor's groups (every theme for superusers), newest update first."""
    problems: list[str] = []
    status = _choice(filters.get("status"), THEME_STATUSES, "status", problems)
    group = _named(_group_or_none, "group", filters["group"], problems) if "group" in filters else None
    _raise(problems)
    search = _search(filters.get("search"))
    condition = _all(
        [Theme.status == status if status else None, Theme.search_text.contains(search) if search else None]
    )
    if actor.superuser and group is None:
        partitions = [repository.Partition(Theme.all_themes, "theme", condition)]
    else:
        groups = {int(group.id)} if group is not None else set(actor.roles)
        if not actor.superuser:
            groups &= set(actor.roles)
        partitions = [repository.Partition(Theme.by_group, g, condition) for g in sorted(groups)]
    total, items = repository.page(partitions, paging.offset, paging.per_page) if partitions else (0, [])
    groups_by_id = repository.get_many(Group, {int(t.group_id) for t in items})
    return Listing([theme_view(t, groups_by_id) for t in items], total, paging)


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
    from html import escape

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


def blueprint_view(blueprint: Blueprint, actor: Actor) -> dict[str, Any]:
    view: dict[str, Any] = {
        "status": blueprint.status,
        "id": int(blueprint.id),
        "slug": blueprint.slug,
        "title": blueprint.title,
        "repo_url": shown_repo_url(str(blueprint.repo_url)),
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


def theme_view(theme: Theme, groups: dict[int, Group] | None = None) -> dict[str, Any]:
    groups = groups if groups is not None else repository.get_many(Group, [int(theme.group_id)])
    group = groups.get(int(theme.group_id))
    return {
        "status": theme.status,
        "id": int(theme.id),
        "slug": theme.slug,
        "title": theme.title,
        "group": group.slug if group else None,
        "group_id": int(theme.group_id),
        "data": theme.data or {},
        "created_at": iso_ms(theme.created_at),
        "updated_at": iso_ms(theme.updated_at),
    }


# --- jobs -----------------------------------------------------------------------------------------


def _deadline(now: int) -> int:
    return now + get_settings().build_timeout_seconds * 1000


def _set_job(item: Project | Blueprint, kind: str, now: int) -> str:
    """Put a queued job on an item about to be saved (its lock settles races)."""
    job_id = uuid.uuid4().hex
    item.job_id = job_id
    item.job_kind = kind
    item.job_deadline = _deadline(now)
    item.job_shard = "job"
    item.job_started_at = None
    return job_id


def _has_job(item: Project | Blueprint, now: int) -> bool:
    return bool(item.job_id) and item.job_deadline is not None and int(item.job_deadline) >= now


def _queue(item: Project | Blueprint, kind: str, status: str, message: str) -> None:
    """Queue a job on a stored item unless one is active (409 with ``message``), then dispatch it."""
    now = now_ms()
    job_id = uuid.uuid4().hex
    model = type(item)
    queued = repository.queue_job(item, job_id, kind, _deadline(now), now, [model.status.set(status)])
    if not queued:
        raise JobInProgress(message)
    _dispatch(item, job_id)


def _dispatch(item: Project | Blueprint, job_id: str) -> None:
    """Hand a queued job to the build worker; when that fails, the item ends broken and the caller gets 503."""
    from chalicelib.jobs.invoke import invoke_async

    kind = "project" if isinstance(item, Project) else "blueprint"
    try:
        invoke_async("build_worker", {"job": kind, "id": int(item.id), "job_id": job_id})
    except errors.ServiceUnavailable:
        builds.fail(item, job_id, "The job could not be queued; try again.", None)
        raise


_BUILD_RUNNING = "A build of this project is already queued or running; try again when it is done."
_UPDATE_RUNNING = "An update of this blueprint is already queued or running; try again when it is done."


# --- projects -------------------------------------------------------------------------------------


def _usable_blueprint(actor: Actor, blueprint: Blueprint, problems: list[str]) -> None:
    if blueprint.mode == "retired":
        problems.append(f"Blueprint '{blueprint.slug}' is retired")
    elif blueprint.mode == "testing" and not actor.superuser:
        problems.append(f"Blueprint '{blueprint.slug}' is in testing: only superusers can use it")
    elif not blueprint.version:
        problems.append(f"Blueprint '{blueprint.slug}' is not ready yet (status: {blueprint.status})")


def _usable_theme(actor: Actor, theme: Theme) -> None:
    if actor.rank_in(int(theme.group_id)) < 1:
        raise errors.Forbidden(f"You cannot use the theme '{theme.slug}': it belongs to a group you are not in.")


def create_project(actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    """POST /projects: the project, its slug from the title under the theme's, and its first build queued."""
    problems: list[str] = []
    title = _title(body.get("title"), problems, required=True)
    requested_slug = _slug(body.get("slug"), problems)
    data = _data(body.get("data"), problems)
    blueprint = theme = None
    if body.get("blueprint") in (None, ""):
        problems.append("Blueprint can't be blank")
    else:
        blueprint = _named(lambda r: _find(Blueprint, "blueprint", r), "blueprint", body["blueprint"], problems)
    if body.get("theme") in (None, ""):
        problems.append("Theme can't be blank")
    else:
        theme = _named(lambda r: _find(Theme, "theme", r), "theme", body["theme"], problems)
    if blueprint is not None:
        _usable_blueprint(actor, blueprint, problems)
    _raise(problems)
    assert title is not None and blueprint is not None and theme is not None
    _usable_theme(actor, theme)
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
        embed_height=_embed_height(blueprint.config),
        data=data or {},
        search_text=_project_search(title, actor.user),
        created_at=now,
        updated_at=now,
        data_updated_at=now,
    )
    job_id = _set_job(project, "build", now)
    base = slugs.with_theme(slugs.slug_from(requested_slug or title, "project"), str(theme.slug))
    repository.create_with_slug("project", project, base)
    _dispatch(project, job_id)
    group = repository.get(Group, int(theme.group_id))
    context = Context(
        users={actor.id: actor.user},
        themes={int(theme.id): theme},
        groups={int(group.id): group} if group else {},
        blueprints={int(blueprint.id): blueprint},
    )
    return project_view(project, actor, context)


def _embed_height(config: dict[str, Any] | None) -> int | None:
    height = (config or {}).get("embed_height")
    return height if isinstance(height, int) and not isinstance(height, bool) and 0 < height < 100_000 else None


def _project_search(title: str, author: User | None) -> str:
    parts = [title, str(author.name) if author else "", str(author.email) if author else ""]
    return "\n".join(parts).lower()


def get_project(actor: Actor, ref: str) -> dict[str, Any]:
    """GET /projects/{id}."""
    project = find_project(ref)
    _require_project(actor, project)
    return project_view(project, actor)


def update_project(actor: Actor, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    """PUT|PATCH /projects/{id}: title, theme, slug and data (replaced, not merged); then a build is queued."""
    for _ in range(3):
        project = find_project(ref)
        _require_project(actor, project)
        try:
            return _update_project(actor, project, body)
        except dynamo.Stale:
            continue  # the worker or another request wrote it meanwhile: read it again
    raise dynamo.Stale()


def _update_project(actor: Actor, project: Project, body: dict[str, Any]) -> dict[str, Any]:
    problems: list[str] = []
    title = _title(body.get("title"), problems, required=False)
    requested_slug = _slug(body.get("slug"), problems)
    data = _data(body.get("data"), problems) if "data" in body else None
    theme = None
    if body.get("theme") not in (None, ""):
        theme = _named(lambda r: _find(Theme, "theme", r), "theme", body["theme"], problems)
    _raise(problems)
    now = now_ms()
    if _has_job(project, now):
        raise JobInProgress(_BUILD_RUNNING)
    current_theme = repository.get(Theme, int(project.theme_id))
    old_theme_slug = str(current_theme.slug) if current_theme else ""
    if theme is not None and int(theme.id) != int(project.theme_id):
        _usable_theme(actor, theme)
        project.theme_id = int(theme.id)
        project.group_id = int(theme.group_id)
    theme_slug = str(theme.slug) if theme is not None else old_theme_slug
    if title is not None:
        project.title = title
        author = repository.get(User, int(project.user_id))
        project.search_text = _project_search(title, author)
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
    job_id = _set_job(project, "build", now)
    repository.save_with_slug("project", project, old_slug, base)
    _dispatch(project, job_id)
    return project_view(project, actor)


def delete_project(actor: Actor, ref: str) -> None:
    """DELETE /projects/{id}: the project, its slug, and its preview and published files."""
    project = find_project(ref)
    _require_project(actor, project)
    repository.delete_with_claims("project", project)
    builds.remove_outputs(str(project.slug))


def queue_project_job(actor: Actor, ref: str, kind: str) -> None:
    """GET /projects/{id}/build, /build_and_publish, /update_snapshot: queue it (202), or 409 if one runs."""
    project = find_project(ref)
    _require_project(actor, project)
    if kind == "upgrade":
        blueprint = repository.get(Blueprint, int(project.blueprint_id))
        if blueprint is None or not blueprint.version:
            raise errors.BadRequest("The project's blueprint has no version to upgrade to.", code="not_ready")
    _queue(project, kind, "updating" if kind == "upgrade" else "building", _BUILD_RUNNING)


# --- blueprints -----------------------------------------------------------------------------------


def _repo_url(value: Any, problems: list[str], *, required: bool) -> str | None:
    from chalicelib.publishing.gitrepo import InvalidRepoUrl, validate_url

    if value is None or value == "":
        if required:
            problems.append("Repo url can't be blank")
        return None
    if not isinstance(value, str) or len(value) > 1000:
        problems.append("Repo url must be a string")
        return None
    if carries_credentials(value.strip()):
        problems.append(CREDENTIALS_IN_URL)  # refused, never stored: every author can read a blueprint
        return None
    try:
        return validate_url(value.strip(), allow_local=get_settings().allow_local_repos)
    except InvalidRepoUrl as e:
        problems.append(str(e))
        return None


CREDENTIALS_IN_URL = (
    "Repo url must not contain credentials (a user name, password, token or query string): "
    "blueprints are fetched without credentials and every author can read their address"
)


def _ssh_user(url: str) -> str | None:
    """The user of an SSH address (``git@host:path``, ``ssh://git@host/path``), or None for other forms."""
    if "://" not in url:
        head = url.partition(":")[0]
        return head.rpartition("@")[0] if "@" in head else None
    if url.lower().startswith(("ssh://", "git+ssh://")):
        netloc = url.split("://", 1)[1].split("/", 1)[0]
        return netloc.rpartition("@")[0] if "@" in netloc else None
    return None


def carries_credentials(url: str) -> bool:
    """Whether a repository address carries a secret: user info (other than SSH's ``git@``) or a query."""
    from urllib.parse import urlsplit

    if "?" in url or "#" in url:
        return True  # ?access_token=..., ?private_token=...: no git host needs a query to clone
    user = _ssh_user(url)
    if user is not None:
        return user != "git"
    if "://" not in url:
        return False  # scp-like without a user, or a local path
    try:
        parts = urlsplit(url)
    except ValueError:
        return False  # not a URL: validate_url refuses it
    return "@" in parts.netloc


def shown_repo_url(url: str) -> str:
    """A stored address as the API shows it: any credentials stored before they were refused are cut off."""
    if not carries_credentials(url):
        return url
    url = url.split("?", 1)[0].split("#", 1)[0]
    if "://" not in url:
        head, sep, rest = url.partition(":")
        return head.rpartition("@")[2] + sep + rest if _ssh_user(url) not in (None, "git") else url
    scheme, _, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    return f"{scheme}://{netloc.rpartition('@')[2]}{slash}{path}"


def _thumb_url(value: Any, problems: list[str]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(("https://", "http://", "/")) or len(value) > 2000:
        problems.append("Thumb url must be an http(s) URL")
        return None
    return value


def create_blueprint(actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    """POST /blueprints (superusers): the blueprint, and its first repository update queued."""
    _require_superuser(actor, "Only superusers can create blueprints.")
    problems: list[str] = []
    title = _title(body.get("title"), problems, required=True)
    repo_url = _repo_url(body.get("repo_url"), problems, required=True)
    requested_slug = _slug(body.get("slug"), problems)
    thumb_url = _thumb_url(body.get("thumb_url"), problems)
    mode = _choice(body.get("mode"), BLUEPRINT_MODES, "Mode", problems) or "ready"
    _raise(problems)
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
    job_id = _set_job(blueprint, "update_repo", now)
    repository.create_with_slug("blueprint", blueprint, slugs.slug_from(requested_slug or title, "blueprint"))
    _dispatch(blueprint, job_id)
    return blueprint_view(blueprint, actor)


def get_blueprint(actor: Actor, ref: str) -> dict[str, Any]:
    """GET /blueprints/{id}."""
    return blueprint_view(find_blueprint(ref), actor)


def update_blueprint(actor: Actor, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    """PUT|PATCH /blueprints/{id} (superusers): title, slug, repo_url (queues an update), thumb_url, mode, status."""
    _require_superuser(actor, "Only superusers can change blueprints.")
    for _ in range(3):
        try:
            return _update_blueprint(actor, find_blueprint(ref), body)
        except dynamo.Stale:
            continue  # the worker moved it meanwhile: read it again
    raise dynamo.Stale()


def _update_blueprint(actor: Actor, blueprint: Blueprint, body: dict[str, Any]) -> dict[str, Any]:
    problems: list[str] = []
    title = _title(body.get("title"), problems, required=False)
    repo_url = _repo_url(body.get("repo_url"), problems, required=False)
    requested_slug = _slug(body.get("slug"), problems)
    thumb_url = _thumb_url(body.get("thumb_url"), problems) if "thumb_url" in body else None
    mode = _choice(body.get("mode"), BLUEPRINT_MODES, "Mode", problems)
    status = _choice(body.get("status"), ("testing", "ready"), "Status", problems)
    if status is not None and not blueprint.version:
        problems.append("Status can only be set once the repository has been loaded")
    _raise(problems)
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
        if _has_job(blueprint, now):
            raise JobInProgress(_UPDATE_RUNNING)
        blueprint.repo_url = repo_url
        blueprint.status = "updating"
        job_id = _set_job(blueprint, "update_repo", now)
    blueprint.updated_at = now
    base = slugs.slug_from(requested_slug, "blueprint") if requested_slug is not None else None
    repository.save_with_slug("blueprint", blueprint, str(blueprint.slug), base)
    if job_id is not None:
        _dispatch(blueprint, job_id)
    return blueprint_view(blueprint, actor)


def delete_blueprint(actor: Actor, ref: str) -> None:
    """DELETE /blueprints/{id} (superusers): refused while projects use it."""
    _require_superuser(actor, "Only superusers can delete blueprints.")
    blueprint = find_blueprint(ref)
    if repository.projects_in_use(Project.by_blueprint, int(blueprint.id)):
        raise errors.Conflict("Projects use this blueprint; delete them first, or retire it (mode: retired).")
    repository.delete_with_claims("blueprint", blueprint)


def update_repo(actor: Actor, ref: str) -> None:
    """GET /blueprints/{id}/update_repo (superusers): load the repository's latest commit (202)."""
    _require_superuser(actor, "Only superusers can update blueprints.")
    _queue(find_blueprint(ref), "update_repo", "updating", _UPDATE_RUNNING)


# --- themes ---------------------------------------------------------------------------------------


def _theme_group(actor: Actor, value: Any, problems: list[str]) -> Group | None:
    """The group a new theme goes to: the one named, else the default group (superusers) or the
    designer's only group."""
    if value not in (None, ""):
        return _named(_group_or_none, "group", value, problems)
    if actor.superuser:
        return default_group()
    designing = sorted(actor.groups_at_least("designer"))
    if not designing:
        raise errors.Forbidden("Only designers and superusers can create themes.")
    if len(designing) > 1:
        problems.append("Group can't be blank: you design for several groups, so name one")
        return None
    return repository.get(Group, designing[0])


def create_theme(actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    """POST /themes (designers of the group, superusers)."""
    problems: list[str] = []
    title = _title(body.get("title"), problems, required=True)
    requested_slug = _slug(body.get("slug"), problems)
    data = _data(body.get("data"), problems)
    group = _theme_group(actor, body.get("group"), problems)
    _raise(problems)
    assert title is not None and group is not None
    _require_designer(actor, int(group.id))
    now = now_ms()
    theme = Theme(
        repository.next_id("theme"),
        title=title,
        group_id=int(group.id),
        status="ready",
        data=data or {},
        original_data=data or {},
        search_text=title.lower(),
        created_at=now,
        updated_at=now,
    )
    repository.create_with_slug("theme", theme, slugs.slug_from(requested_slug or title, "theme"))
    return theme_view(theme, {int(group.id): group})


def _visible_theme(actor: Actor, ref: str) -> Theme:
    theme = find_theme(ref)
    if actor.rank_in(int(theme.group_id)) < 1:
        raise errors.Forbidden("This theme belongs to a group you are not in.")
    return theme


def get_theme(actor: Actor, ref: str) -> dict[str, Any]:
    """GET /themes/{id} (members of its group, superusers)."""
    return theme_view(_visible_theme(actor, ref))


def update_theme(actor: Actor, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    """PUT|PATCH /themes/{id}: title, slug, data, group (designers of the groups involved, superusers)."""
    theme = _visible_theme(actor, ref)
    _require_designer(actor, int(theme.group_id))
    problems: list[str] = []
    title = _title(body.get("title"), problems, required=False)
    requested_slug = _slug(body.get("slug"), problems)
    data = _data(body.get("data"), problems) if "data" in body else None
    group = _named(_group_or_none, "group", body["group"], problems) if body.get("group") not in (None, "") else None
    _raise(problems)
    if group is not None and int(group.id) != int(theme.group_id):
        _require_designer(actor, int(group.id))
        if repository.projects_in_use(Project.by_theme, int(theme.id)):
            raise errors.Conflict("Projects use this theme, so it cannot move to another group.")
        theme.group_id = int(group.id)
    if title is not None:
        theme.title = title
        theme.search_text = title.lower()
    if "data" in body:
        theme.data = data or {}
    theme.updated_at = now_ms()
    base = slugs.slug_from(requested_slug, "theme") if requested_slug is not None else None
    repository.save_with_slug("theme", theme, str(theme.slug), base)
    return theme_view(theme)


def delete_theme(actor: Actor, ref: str) -> None:
    """DELETE /themes/{id}: refused while projects use it."""
    theme = _visible_theme(actor, ref)
    _require_designer(actor, int(theme.group_id))
    if repository.projects_in_use(Project.by_theme, int(theme.id)):
        raise errors.Conflict("Projects use this theme; delete them or move them to another theme first.")
    repository.delete_with_claims("theme", theme)


def reset_theme(actor: Actor, ref: str) -> None:
    """GET /themes/{id}/reset: the theme's data back to what it was created with (202)."""
    theme = _visible_theme(actor, ref)
    _require_designer(actor, int(theme.group_id))
    theme.data = theme.original_data or {}
    theme.status = "ready"
    theme.updated_at = now_ms()
    repository.save(theme)
