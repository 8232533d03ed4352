"""Entity store: users and groups."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.dashboard.context import PAGE_SIZE, Ctx, confirm
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


def entities_user_delete(ctx: Ctx, login: str) -> Response:
    from chalicelib.entities import accounts

    if not ctx.posted:
        accounts.get_user(login)
        return confirm(
            ctx,
            title="Delete this user?",
            message=f"User {login} will be deleted; their sessions and tokens stop working.",
            action=ctx.url("entities", "users", login, "delete"),
            button="Delete user",
            cancel=ctx.url("entities"),
        )
    accounts.delete_user(login)
    return ctx.back("entities", notice="user_deleted")


def entities_group_delete(ctx: Ctx, name: str) -> Response:
    from chalicelib.entities import accounts

    if not ctx.posted:
        accounts.get_group(name)
        return confirm(
            ctx,
            title="Delete this group?",
            message=f"Group {name} will be deleted. Only an empty group can be: move or delete its users first.",
            action=ctx.url("entities", "groups", name, "delete"),
            button="Delete group",
            cancel=ctx.url("entities"),
        )
    accounts.delete_group(name)
    return ctx.back("entities", notice="group_deleted")
