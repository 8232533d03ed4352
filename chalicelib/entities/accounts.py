"""Users and groups of the platform API, managed by operators (``/admin/platform/...``).

Bodies are checked by their request models (``contracts.py``), imported by the functions that take one.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.crypto import hash_password
from chalicelib.entities import repository
from chalicelib.entities.models import PlatformGroup, PlatformUser
from chalicelib.entities.objectid import new_object_id
from chalicelib.errors import Conflict, NotFound
from chalicelib.http import iso_ms, now_ms

LOGIN_PATTERN = re.compile(r"^[A-Za-z0-9._@+-]{1,128}\Z")
GROUP_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
PASSWORD_MAX = 1024  # what sign-in reads of a password (auth.py); bodies: contracts.Password


class UnknownUser(NotFound):
    code = "unknown_user"
    default_message = "No user has this login."


class UnknownGroup(NotFound):
    code = "unknown_group"
    default_message = "No group has this name."


class GroupNotEmpty(Conflict):
    code = "group_not_empty"
    default_message = "The group still has users; move or remove them first."


def group_view(group: PlatformGroup) -> dict[str, Any]:
    """A group as the admin API shows it."""
    return {
        "object": "platform_group",
        "_id": group.id,
        "name": group.name,
        "created_at": iso_ms(group.created_at),
    }


def user_view(user: PlatformUser) -> dict[str, Any]:
    """A user as the admin API shows it (never the password hash)."""
    return {
        "object": "platform_user",
        "_id": user.id,
        "login": user.login,
        "group": {"_id": user.group_id, "name": user.group_name},
        "created_at": iso_ms(user.created_at),
        "updated_at": iso_ms(user.updated_at),
    }


def _list(data: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": next_cursor is not None, "next_cursor": next_cursor}


# --- groups ----------------------------------------------------------------------------------------


def group_named(name: str) -> PlatformGroup:
    """The group called ``name``; 404 otherwise."""
    group = repository.get_group(name) if GROUP_PATTERN.match(name) else None
    if group is None:
        raise UnknownGroup(f"No group is named '{name[:64]}'.")
    return group


def ensure_group(name: str) -> PlatformGroup:
    """The group called ``name``, created when new."""
    group = repository.get_group(name)
    if group is not None:
        return group
    now = now_ms()
    group = PlatformGroup(name, id=new_object_id(now), created_at=now)
    try:
        repository.create_group(group)
    except Conflict:
        return group_named(name)  # created concurrently
    return group


def create_group(body: dict[str, Any]) -> dict[str, Any]:
    """POST /admin/platform/groups {"name"}: 409 when the name is taken."""
    from chalicelib.entities.contracts import PlatformGroupInput, checked  # pydantic: with a body only (cold start)

    name = checked(PlatformGroupInput, body).name
    now = now_ms()
    group = PlatformGroup(name, id=new_object_id(now), created_at=now)
    repository.create_group(group)
    return group_view(group)


def get_group(name: str) -> dict[str, Any]:
    """GET /admin/platform/groups/{name}."""
    return group_view(group_named(name))


def list_groups(limit: int, cursor: str | None) -> dict[str, Any]:
    """GET /admin/platform/groups."""
    groups, next_cursor = repository.list_groups(limit, cursor)
    return _list([group_view(g) for g in groups], next_cursor)


def delete_group(name: str) -> None:
    """DELETE /admin/platform/groups/{name}: only an empty group (409 otherwise)."""
    group = group_named(name)
    if repository.group_has_members(group.id):
        raise GroupNotEmpty(f"The group '{name}' still has users; move or remove them first.")
    repository.delete_group(group)


# --- users -----------------------------------------------------------------------------------------


def user_with_login(login: str) -> PlatformUser:
    """The user with this login; 404 otherwise."""
    user = repository.get_user(login) if LOGIN_PATTERN.match(login) else None
    if user is None:
        raise UnknownUser(f"No user has the login '{login[:128]}'.")
    return user


def create_user(body: dict[str, Any]) -> dict[str, Any]:
    """POST /admin/platform/users {"login", "password", "group"}: the group is created when new."""
    from chalicelib.entities.contracts import PlatformUserInput, checked  # pydantic: with a body only (cold start)

    new = checked(PlatformUserInput, body)
    login, password, group_name = new.login, new.password, new.group
    if repository.get_user(login) is not None:
        raise Conflict(f"A user with the login '{login}' already exists.")
    group = ensure_group(group_name)
    now = now_ms()
    user = PlatformUser(
        login,
        id=new_object_id(now),
        group_id=group.id,
        group_name=group.name,
        password_hash=hash_password(password),
        credentials_version=1,
        created_at=now,
        updated_at=now,
    )
    repository.create_user(user)
    return user_view(user)


def get_user(login: str) -> dict[str, Any]:
    """GET /admin/platform/users/{login}."""
    return user_view(user_with_login(login))


def list_users(group_name: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
    """GET /admin/platform/users[?group=name]."""
    group_id = group_named(group_name).id if group_name else None
    users, next_cursor = repository.list_users(group_id, limit, cursor)
    return _list([user_view(u) for u in users], next_cursor)


def update_user(login: str, body: dict[str, Any]) -> dict[str, Any]:
    """PATCH /admin/platform/users/{login} {"password"?, "group"?}.

    A new password ends every session and token the user had. Unknown or no fields answer 400 before an
    unknown login's 404; an invalid value answers after it.
    """
    from chalicelib.entities.contracts import PlatformUserUpdate, checked  # pydantic: with a body only (cold start)

    change = checked(PlatformUserUpdate, body, before_values=lambda: user_with_login(login))
    user = user_with_login(login)
    if "password" in change.model_fields_set:
        user.password_hash = hash_password(change.password)
        user.credentials_version = int(user.credentials_version) + 1
    if "group" in change.model_fields_set:
        group = ensure_group(change.group)
        user.group_id, user.group_name = group.id, group.name
    user.updated_at = now_ms()
    repository.save_user(user)
    return user_view(user)


def delete_user(login: str) -> None:
    """DELETE /admin/platform/users/{login}: its sessions and tokens stop working, its sockets close."""
    from chalicelib.entities import sockets  # removing a user only: the management API client stays out otherwise

    user = user_with_login(login)
    repository.delete_user(user)
    sockets.close_user_connections(user.id)
