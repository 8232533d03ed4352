"""Users, API keys, groups and roles of the publishing service (Autotune's accounts).

An API key is shown once, when it is issued, and stored only as its SHA-256 (behind a claim item, so a
request finds its user with two strongly consistent reads). Reading a key back is therefore impossible:
``get_api_key`` issues a new key, and the previous one stops working at once.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import string
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from chalicelib import dynamo, errors
from chalicelib.crypto import key_hash
from chalicelib.http import iso_ms, now_ms, parse_id
from chalicelib.publishing import repository
from chalicelib.publishing.models import Group, Membership, User
from chalicelib.publishing.slugs import reads_as_id, slug_from

ROLES = ("author", "editor", "designer")
RANK = {"author": 1, "editor": 2, "designer": 3}
DEFAULT_GROUP_ID = 0
DEFAULT_GROUP_NAME = "Default"
KEY_LENGTH = 40
_KEY_ALPHABET = string.ascii_letters + string.digits
_HEADER = re.compile(r'^\s*API-KEY\s+auth\s*=\s*(?:"([^"]*)"|([^\s",]+))\s*$', re.IGNORECASE)
ROTATION_NOTE = (
    "API keys are stored only as hashes, so an existing key cannot be shown: this is a new key, "
    "and the previous one no longer works."
)


class InvalidKey(errors.Unauthorized):
    code = "invalid_api_key"
    default_message = "The API key is not valid."


class MissingKey(errors.Unauthorized):
    code = "missing_api_key"
    default_message = "An API key is required: send 'Authorization: API-KEY auth=YOUR_KEY'."


class UnknownUser(errors.NotFound):
    code = "unknown_user"
    default_message = "No user has this id or email."


class UnknownGroup(errors.NotFound):
    code = "unknown_group"
    default_message = "No group has this id or slug."


class EmailTaken(errors.Conflict):
    code = "email_taken"
    default_message = "A user with this email already exists."


@dataclass
class Actor:
    """The authenticated user and their role in each group."""

    user: User
    roles: dict[int, str] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return int(self.user.id)

    @property
    def superuser(self) -> bool:
        return bool(self.user.superuser)

    def rank_in(self, group_id: int) -> int:
        """3 for designer, 2 for editor, 1 for author, 0 for no role; superusers rank above everyone."""
        if self.superuser:
            return 4
        return RANK.get(self.roles.get(int(group_id), ""), 0)

    def groups_at_least(self, role: str) -> set[int]:
        """The groups where this user's role is ``role`` or higher."""
        return {g for g, r in self.roles.items() if RANK[r] >= RANK[role]}


def new_api_key() -> str:
    """A random alphanumeric key (about 238 bits), as Autotune's keys are alphanumeric."""
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(KEY_LENGTH))


def parse_authorization(header: str | None) -> str:
    """The key of an ``API-KEY auth=KEY`` header (the key may be quoted); 401 otherwise."""
    if not header or not header.strip():
        raise MissingKey()
    found = _HEADER.match(header)
    key = (found.group(1) or found.group(2)) if found else None
    if not key:
        raise MissingKey("The Authorization header must read 'API-KEY auth=YOUR_KEY'.")
    return key


def authenticate(header: str | None) -> Actor:
    """The actor behind an Authorization header; 401 when the key is missing or unknown."""
    key = parse_authorization(header)
    user = repository.user_by_key_hash(key_hash(key))
    if user is None:
        raise InvalidKey()
    return actor_of(user)


def actor_of(user: User) -> Actor:
    """A user with their group roles."""
    roles = {int(m.group_id): str(m.role) for m in repository.memberships_of(int(user.id))}
    return Actor(user, roles)


# --- users ---------------------------------------------------------------------------------------------


def user_view(user: User, memberships: list[Membership] | None = None, groups: dict[int, Group] | None = None) -> dict:
    """A user as the operator API shows it (never a key or its hash)."""
    view: dict[str, Any] = {
        "id": int(user.id),
        "email": user.email,
        "name": user.name,
        "superuser": bool(user.superuser),
        "created_at": iso_ms(user.created_at),
        "updated_at": iso_ms(user.updated_at),
    }
    if memberships is not None:
        groups = groups or {}
        view["groups"] = [
            {
                "group_id": int(m.group_id),
                "group": groups[int(m.group_id)].slug if int(m.group_id) in groups else None,
                "role": m.role,
            }
            for m in memberships
        ]
    return view


def create_user(body: dict[str, Any]) -> dict[str, Any]:
    """POST /admin/autotune/users: a new user (a superuser with ``"superuser": true``) and their key."""
    from chalicelib.contracts import rule_broken, validated  # pydantic: with a body only (cold start)
    from chalicelib.publishing.contracts import AutotuneUserInput

    given = validated(AutotuneUserInput, body, rule_broken)
    email, superuser = given.email, bool(given.superuser)
    name = given.name or email.split("@", 1)[0]
    if repository.user_by_email(email) is not None:
        raise EmailTaken(f"A user with the email '{email}' already exists.")
    key = new_api_key()
    now = now_ms()
    user = User(
        repository.next_id("user"),
        email=email,
        name=name,
        superuser=superuser,
        key_hash=key_hash(key),
        created_at=now,
        updated_at=now,
    )
    try:
        repository.create_user(user)
    except dynamo.Cancelled as e:
        if "email" in e.failed:
            raise EmailTaken(f"A user with the email '{email}' already exists.") from e
        raise
    return {**user_view(user, []), "api_key": key}


def find_user(ref: str) -> User:
    """A user by numeric id or email (percent-encoded or not); 404 otherwise."""
    ref = unquote(ref).strip()
    user = None
    number = parse_id(ref)
    if number is not None:
        user = repository.get(User, number)
    elif "@" in ref:
        user = repository.user_by_email(ref.lower())
    if user is None:
        raise UnknownUser(f"No user has the id or email '{ref[:254]}'.")
    return user


def get_user(ref: str) -> dict[str, Any]:
    """GET /admin/autotune/users/{user}: the user and their groups."""
    user = find_user(ref)
    memberships = repository.memberships_of(int(user.id))
    groups = repository.get_many(Group, [int(m.group_id) for m in memberships])
    return user_view(user, memberships, groups)


def update_user(ref: str, body: dict[str, Any]) -> dict[str, Any]:
    """PATCH /admin/autotune/users/{user}: change the name or the superuser flag."""
    from chalicelib.contracts import rule_broken, validated  # pydantic: with a body only (cold start)
    from chalicelib.publishing.contracts import AutotuneUserUpdate

    user = find_user(ref)
    change = validated(AutotuneUserUpdate, body, rule_broken)
    if "name" in change.model_fields_set:
        user.name = change.name or str(user.email).split("@", 1)[0]
    if "superuser" in change.model_fields_set:
        user.superuser = change.superuser
    user.updated_at = now_ms()
    repository.save_user(user)
    return get_user(str(int(user.id)))


def rotate_key(ref: str) -> dict[str, Any]:
    """POST /admin/autotune/users/{user}/api_key: a new key for the user; the old one stops working."""
    user = find_user(ref)
    key = new_api_key()
    repository.replace_key(user, key_hash(key))
    return {**user_view(user), "api_key": key, "rotated": True, "message": ROTATION_NOTE}


# --- groups and memberships ------------------------------------------------------------------------------


def group_view(group: Group, members: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": int(group.id),
        "slug": group.slug,
        "name": group.name,
        "default": int(group.id) == DEFAULT_GROUP_ID,
        "created_at": iso_ms(group.created_at),
        "updated_at": iso_ms(group.updated_at),
    }
    if members is not None:
        view["members"] = members
    return view


def create_group(body: dict[str, Any]) -> dict[str, Any]:
    """POST /admin/autotune/groups."""
    from chalicelib.contracts import rule_broken, validated  # pydantic: with a body only (cold start)
    from chalicelib.publishing.contracts import AutotuneGroupInput

    given = validated(AutotuneGroupInput, body, rule_broken)
    now = now_ms()
    group = Group(repository.next_id("group"), name=given.name, created_at=now, updated_at=now)
    repository.create_with_slug("group", group, slug_from(given.slug or given.name, "group"))
    return group_view(group, [])


def find_group(ref: Any) -> Group:
    """A group by numeric id or slug; 404 otherwise."""
    text = str(ref).strip() if isinstance(ref, str | int) and not isinstance(ref, bool) else ""
    group = None
    number = parse_id(text)
    if number is not None:
        group = repository.get(Group, number)
    elif text and not reads_as_id(text):
        group = repository.get_by_slug(Group, "group", text.lower())
    if group is None:
        raise UnknownGroup(f"No group has the id or slug '{text[:100]}'.")
    return group


def default_group() -> Group:
    """The group of themes created without one (id 0), created on first use; superusers own it."""
    group = repository.get(Group, DEFAULT_GROUP_ID)
    if group is not None:
        return group
    now = now_ms()
    group = Group(DEFAULT_GROUP_ID, name=DEFAULT_GROUP_NAME, created_at=now, updated_at=now)
    with contextlib.suppress(dynamo.Cancelled):  # created by a concurrent request
        repository.create_with_slug("group", group, "default")
    found = repository.get(Group, DEFAULT_GROUP_ID)
    assert found is not None
    return found


def list_groups() -> list[dict[str, Any]]:
    """GET /admin/autotune/groups: every group, oldest first."""
    return [group_view(g) for g in repository.list_groups()]


def get_group(ref: str) -> dict[str, Any]:
    """GET /admin/autotune/groups/{group}: the group and its members."""
    group = find_group(ref)
    memberships = repository.members_of(int(group.id))
    users = repository.get_many(User, [int(m.user_id) for m in memberships])
    members = [
        {
            "user_id": int(m.user_id),
            "email": users[int(m.user_id)].email if int(m.user_id) in users else None,
            "name": users[int(m.user_id)].name if int(m.user_id) in users else None,
            "role": m.role,
        }
        for m in memberships
    ]
    return group_view(group, members)


def set_member(group_ref: str, user_ref: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """PUT /admin/autotune/groups/{group}/members/{user}: give a user a role; True when new."""
    group = find_group(group_ref)
    user = find_user(user_ref)
    # pydantic and the contracts are imported on this route's first call (cold start)
    from chalicelib.contracts import validated
    from chalicelib.publishing.contracts import AutotuneRole

    refused = errors.BadRequest("'role' must be one of author, editor, designer.", code="invalid_role")
    role = validated(AutotuneRole, body, lambda _: refused).role
    now = now_ms()
    existing = repository.get_membership(int(user.id), int(group.id))
    membership = Membership(
        int(user.id),
        int(group.id),
        role=role,
        created_at=existing.created_at if existing else now,
        updated_at=now,
    )
    repository.save_membership(membership)
    view = {"group_id": int(group.id), "group": group.slug, "user_id": int(user.id), "email": user.email, "role": role}
    return view, existing is None


def remove_member(group_ref: str, user_ref: str) -> None:
    """DELETE /admin/autotune/groups/{group}/members/{user}."""
    group = find_group(group_ref)
    user = find_user(user_ref)
    membership = repository.get_membership(int(user.id), int(group.id))
    if membership is None:
        raise errors.NotFound(f"'{user.email}' is not a member of '{group.slug}'.", code="unknown_membership")
    repository.delete_membership(membership)
