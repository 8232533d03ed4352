"""Themes of the publishing API: a group's look, which its designers (and superusers) write."""

from __future__ import annotations

from typing import Any

from chalicelib import errors
from chalicelib.http import iso_ms, now_ms
from chalicelib.publishing import access, fields, lookup, repository, slugs
from chalicelib.publishing.accounts import Actor, default_group
from chalicelib.publishing.fields import Listing, Paging
from chalicelib.publishing.models import Group, Project, Theme

STATUSES = ("new", "updating", "ready", "broken")


def list_themes(actor: Actor, filters: dict[str, str], paging: Paging) -> Listing:
    """GET /themes: the themes of the actor's groups (every theme for superusers), newest update first."""
    problems: list[str] = []
    status = fields.choice(filters.get("status"), STATUSES, "status", problems)
    group = lookup.named_group(filters["group"], problems) if "group" in filters else None
    fields.refuse(problems)
    search = fields.search_term(filters.get("search"))
    condition = fields.all_of(
        [Theme.status == status if status else None, Theme.search_text.contains(search) if search else None]
    )
    if actor.superuser and group is None:
        partitions = [repository.Partition(Theme.all_themes, "theme", condition)]
    else:
        groups = {int(group.id)} if group is not None else set(actor.roles)
        if not actor.superuser:
            groups &= set(actor.roles)
        partitions = [repository.Partition(Theme.by_group, g, condition) for g in sorted(groups)]
    total, items = repository.page(partitions, paging.offset, paging.per_page)
    groups_by_id = repository.get_many(Group, {int(t.group_id) for t in items})
    return Listing([theme_view(t, groups_by_id) for t in items], total, paging)


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


def _new_theme_group(actor: Actor, value: Any, problems: list[str]) -> Group | None:
    """The group a new theme goes to: the one named, else the default group (superusers) or the
    designer's only group."""
    if value not in (None, ""):
        return lookup.named_group(value, problems)
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
    from chalicelib.publishing.bodies import checked  # pydantic: with a body only (cold start)
    from chalicelib.publishing.contracts import AutotuneThemeInput

    given, refused = checked(AutotuneThemeInput, body, create=True)
    problems = list(refused.values())
    group = _new_theme_group(actor, body.get("group"), problems)
    fields.refuse(problems)
    assert given is not None and given.title is not None and group is not None
    title, requested_slug, data = given.title, given.slug, given.data
    access.require_designer(actor, int(group.id))
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


def _visible(actor: Actor, ref: str) -> Theme:
    theme = lookup.find_theme(ref)
    access.require_member(actor, theme)
    return theme


def _writable(actor: Actor, ref: str) -> Theme:
    theme = _visible(actor, ref)
    access.require_designer(actor, int(theme.group_id))
    return theme


def get_theme(actor: Actor, ref: str) -> dict[str, Any]:
    """GET /themes/{id} (members of its group, superusers)."""
    return theme_view(_visible(actor, ref))


def update_theme(actor: Actor, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    """PUT|PATCH /themes/{id}: title, slug, data, group (designers of the groups involved, superusers)."""
    theme = _writable(actor, ref)
    from chalicelib.publishing.bodies import checked  # pydantic: with a body only (cold start)
    from chalicelib.publishing.contracts import AutotuneThemeInput

    given, refused = checked(AutotuneThemeInput, body, create=False)
    problems = list(refused.values())
    group = lookup.named_group(body["group"], problems) if body.get("group") not in (None, "") else None
    fields.refuse(problems)
    assert given is not None
    title, requested_slug, data = given.title, given.slug, given.data
    if group is not None and int(group.id) != int(theme.group_id):
        access.require_designer(actor, int(group.id))
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
    theme = _writable(actor, ref)
    if repository.projects_in_use(Project.by_theme, int(theme.id)):
        raise errors.Conflict("Projects use this theme; delete them or move them to another theme first.")
    repository.delete_with_claims("theme", theme)


def reset_theme(actor: Actor, ref: str) -> None:
    """GET /themes/{id}/reset: the theme's data back to what it was created with (202)."""
    theme = _writable(actor, ref)
    theme.data = theme.original_data or {}
    theme.status = "ready"
    theme.updated_at = now_ms()
    repository.save(theme)
