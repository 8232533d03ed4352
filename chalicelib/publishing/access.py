"""Who may do what in the publishing API (Autotune's roles).

Roles are per group: authors see and change their own projects, editors and designers those of their
groups, designers also their groups' themes; superusers everything, and only they write blueprints.
"""

from __future__ import annotations

from chalicelib import errors
from chalicelib.publishing.accounts import Actor
from chalicelib.publishing.models import Blueprint, Project, Theme


def can_edit_project(actor: Actor, project: Project) -> bool:
    """Superusers; the author; editors and designers of the project's group."""
    return actor.superuser or int(project.user_id) == actor.id or actor.rank_in(int(project.group_id)) >= 2


def require_project(actor: Actor, project: Project) -> None:
    if not can_edit_project(actor, project):
        raise errors.Forbidden("You are not allowed to see or change this project.")


def require_superuser(actor: Actor, message: str) -> None:
    if not actor.superuser:
        raise errors.Forbidden(message)


def require_designer(actor: Actor, group_id: int) -> None:
    if actor.rank_in(group_id) < 3:
        raise errors.Forbidden("Only designers of the theme's group and superusers can change themes.")


def require_member(actor: Actor, theme: Theme) -> None:
    """Members of a theme's group (and superusers) may see it."""
    if actor.rank_in(int(theme.group_id)) < 1:
        raise errors.Forbidden("This theme belongs to a group you are not in.")


def usable_theme(actor: Actor, theme: Theme) -> None:
    """A project may use the themes of its author's groups."""
    if actor.rank_in(int(theme.group_id)) < 1:
        raise errors.Forbidden(f"You cannot use the theme '{theme.slug}': it belongs to a group you are not in.")


def usable_blueprint(actor: Actor, blueprint: Blueprint, problems: list[str]) -> None:
    """A project may use a loaded blueprint in ``ready`` mode (superusers: in ``testing`` too)."""
    if blueprint.mode == "retired":
        problems.append(f"Blueprint '{blueprint.slug}' is retired")
    elif blueprint.mode == "testing" and not actor.superuser:
        problems.append(f"Blueprint '{blueprint.slug}' is in testing: only superusers can use it")
    elif not blueprint.version:
        problems.append(f"Blueprint '{blueprint.slug}' is not ready yet (status: {blueprint.status})")
