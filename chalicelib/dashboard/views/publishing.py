"""Publishing: users, groups, members and API keys.

Each page imports the service it shows when it runs: the first dashboard request loads only that one.
"""

from __future__ import annotations

from chalice.app import Response

from chalicelib.dashboard.actions import Key, Question, created_key, delete, rotate
from chalicelib.dashboard.context import Ctx
from chalicelib.errors import BadRequest, KeyportError, NotFound

USER_KEY = Key("publishing", "user", "API key", "api_key", owner_field="email")


def publishing_page(ctx: Ctx) -> Response:
    from chalicelib.publishing import accounts

    error, action = None, ctx.form.get("action")
    if ctx.posted:
        try:
            if action == "create_user":
                body = {"email": ctx.form.get("email", ""), "superuser": ctx.form.get("superuser") == "on"}
                if ctx.form.get("name", "").strip():
                    body["name"] = ctx.form["name"]
                created = accounts.create_user(body)
                note = "Give this key to the user now: it is shown only this once."
                then = ctx.url("publishing", "users", str(created["id"])), "Open the user"
                return created_key(ctx, USER_KEY, created, note, then)
            if action == "create_group":
                body = {"name": ctx.form.get("name", "")}
                if ctx.form.get("slug", "").strip():
                    body["slug"] = ctx.form["slug"].strip()
                group = accounts.create_group(body)
                return ctx.back("publishing", "groups", group["slug"], notice="group_created")
            raise BadRequest("Unknown form action.", code="invalid_form")
        except KeyportError as e:
            if e.status >= 500:
                raise
            error = e
    find = ctx.query("user").strip()
    if find and not ctx.posted:
        return ctx.back("publishing", "users", find)
    return ctx.show(
        "publishing.html",
        error.status if error else 200,
        nav="publishing",
        groups=accounts.list_groups(),
        error=error,
        action=action,
        form=ctx.form,
    )


def publishing_user(ctx: Ctx, user: str) -> Response:
    from chalicelib.publishing import accounts

    error = None
    if ctx.posted:
        try:
            accounts.update_user(
                user, {"name": ctx.form.get("name", ""), "superuser": ctx.form.get("superuser") == "on"}
            )
            return ctx.back("publishing", "users", user, notice="user_saved")
        except KeyportError as e:
            if e.status >= 500 or isinstance(e, NotFound):
                raise
            error = e
    return ctx.show(
        "publishing_user.html",
        error.status if error else 200,
        nav="publishing",
        user=accounts.get_user(user),
        ref=user,
        error=error,
    )


def publishing_rotate(ctx: Ctx, user: str) -> Response:
    from chalicelib.publishing import accounts

    back = ctx.url("publishing", "users", user), "Back to the user"
    return rotate(ctx, USER_KEY, (accounts.get_user, accounts.rotate_key), (user,), back)


def publishing_group(ctx: Ctx, group: str) -> Response:
    from chalicelib.publishing import accounts

    error = None
    if ctx.posted:
        try:
            accounts.set_member(group, ctx.form.get("user", "").strip(), {"role": ctx.form.get("role")})
            return ctx.back("publishing", "groups", group, notice="member_saved")
        except KeyportError as e:
            if e.status >= 500:
                raise
            error = e
    view = accounts.get_group(group)
    from chalicelib.publishing.accounts import ROLES

    return ctx.show(
        "publishing_group.html",
        error.status if error else 200,
        nav="publishing",
        group=view,
        ref=group,
        roles=ROLES,
        error=error,
        form=ctx.form,
    )


def publishing_member_delete(ctx: Ctx, group: str, user: str) -> Response:
    from chalicelib.publishing import accounts

    def question() -> Question:
        message = f"User {user} loses their role in group {group}."
        return Question("Remove this member?", message, "Remove member", ctx.url("publishing", "groups", group))

    back = ctx.back("publishing", "groups", group, notice="member_removed")
    return delete(ctx, question, lambda: accounts.remove_member(group, user), "publishing.member_removed", back)
