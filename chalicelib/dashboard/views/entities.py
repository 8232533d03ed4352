"""Entity store: users and groups.

Each page imports the service it shows when it runs: the first dashboard request loads only that one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Response

from chalicelib.dashboard.actions import Question, delete
from chalicelib.dashboard.context import PAGE_SIZE, Ctx
from chalicelib.errors import BadRequest, KeyportError


def entities_page(ctx: Ctx) -> Response:
    from chalicelib.entities import accounts

    error, action = None, ctx.form.get("action")
    if ctx.posted:
        try:
            if action == "create_user":
                accounts.create_user(
                    {
                        "login": ctx.form.get("login", ""),
                        "password": ctx.form.get("password", ""),
                        "group": ctx.form.get("group", ""),
                    }
                )
                return ctx.back("entities", notice="user_created")
            if action == "create_group":
                accounts.create_group({"name": ctx.form.get("name", "")})
                return ctx.back("entities", notice="group_created")
            raise BadRequest("Unknown form action.", code="invalid_form")
        except KeyportError as e:
            if e.status >= 500:
                raise
            error = e
    group_filter = ctx.query("group") or None
    users = accounts.list_users(group_filter, PAGE_SIZE, ctx.query("cursor") or None)
    groups = accounts.list_groups(100, ctx.query("groups_cursor") or None)
    form = {k: v for k, v in ctx.form.items() if k != "password"}
    return ctx.show(
        "entities.html",
        error.status if error else 200,
        nav="entities",
        users=users["data"],
        next_cursor=users["next_cursor"],
        groups=groups["data"],
        groups_cursor=groups["next_cursor"],
        group_filter=group_filter,
        error=error,
        action=action,
        form=form,
    )


def _deletion(
    ctx: Ctx, what: str, name: str, message: str, read: Callable[[str], Any], remove: Callable[[str], Any]
) -> Response:
    """Delete a user or a group (``what``) of the entity store once confirmed."""

    def question() -> Question:
        read(name)  # 404 for an unknown one
        return Question(f"Delete this {what}?", message, f"Delete {what}", ctx.url("entities"))

    back = ctx.back("entities", notice=f"{what}_deleted")
    return delete(ctx, question, lambda: remove(name), f"entities.{what}_deleted", back)


def entities_user_delete(ctx: Ctx, login: str) -> Response:
    from chalicelib.entities import accounts

    message = f"User {login} will be deleted; their sessions and tokens stop working."
    return _deletion(ctx, "user", login, message, accounts.get_user, accounts.delete_user)


def entities_group_delete(ctx: Ctx, name: str) -> Response:
    from chalicelib.entities import accounts

    message = f"Group {name} will be deleted. Only an empty group can be: move or delete its users first."
    return _deletion(ctx, "group", name, message, accounts.get_group, accounts.delete_group)
