"""Users and groups of the platform API, managed by operators (``/admin/platform/...``)."""

from __future__ import annotations

import re
from typing import Any

from chalicelib.crypto import hash_password
from chalicelib.entities import repository
from chalicelib.entities.models import PlatformGroup, PlatformUser
from chalicelib.entities.objectid import new_object_id
from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.http import iso_ms, now_ms

LOGIN_PATTERN = re.compile(r"^[A-Za-z0-9._@+-]{1,128}\Z")
GROUP_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
PASSWORD_MIN, PASSWORD_MAX = 8, 1024


class InvalidLogin(BadRequest):
    code = "invalid_login"
    default_message = "'login' must be 1 to 128 letters, digits, '.', '_', '@', '+' or '-'."


class InvalidPassword(BadRequest):
    code = "invalid_password"
    default_message = f"'password' must be a string of {PASSWORD_MIN} to {PASSWORD_MAX} characters."


class InvalidGroupName(BadRequest):
    code = "invalid_group"
    default_message = "A group name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."


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


def _unknown_keys(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"Unknown field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}.")


def _group_name(value: Any) -> str:
    if not isinstance(value, str) or not GROUP_PATTERN.match(value):
        raise InvalidGroupName()
    return value


def _password(value: Any) -> str:
    if not isinstance(value, str) or not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise InvalidPassword()
    return value


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
    _unknown_keys(body, {"name"})
    name = _group_name(body.get("name"))
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
    _unknown_keys(body, {"login", "password", "group"})
    login = body.get("login")
    if not isinstance(login, str) or not LOGIN_PATTERN.match(login):
        raise InvalidLogin()
    password = _password(body.get("password"))
    group_name = _group_name(body.get("group"))
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

    A new password ends every session and token the user had.
    """
    _unknown_keys(body, {"password", "group"})
    if not body:
        raise BadRequest("Give 'password', 'group' or both.")
    user = user_with_login(login)
    if "password" in body:
        user.password_hash = hash_password(_password(body["password"]))
        user.credentials_version = int(user.credentials_version) + 1
    if "group" in body:
        group = ensure_group(_group_name(body["group"]))
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
