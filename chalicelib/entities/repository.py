"""Keys, queries and conditions of the entity store's tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import reduce
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError

from chalicelib.dynamo import is_conditional_failure, translated
from chalicelib.entities.models import (
    Connection,
    Credential,
    Entity,
    PlatformGroup,
    PlatformUser,
)
from chalicelib.http import decode_cursor, encode_cursor

_CURSOR: dict[str, type] = {"k": str}


def _expiry(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# --- groups ----------------------------------------------------------------------------------------


def get_group(name: str) -> PlatformGroup | None:
    """One group by name, or None."""
    with translated():
        try:
            return PlatformGroup.get(name)
        except DoesNotExist:
            return None


def create_group(group: PlatformGroup) -> None:
    """Write a new group; 409 when the name is taken."""
    with translated("A group with this name already exists."):
        group.save(condition=PlatformGroup.name.does_not_exist())


def delete_group(group: PlatformGroup) -> None:
    """Remove a group."""
    with translated():
        group.delete()


def list_groups(limit: int, cursor: str | None) -> tuple[list[PlatformGroup], str | None]:
    """A page of groups by name, and the cursor of the next page."""
    start = None
    if cursor:
        name = decode_cursor(cursor, _CURSOR)["k"]
        start = {"name": {"S": name}, "listing": {"S": "group"}}
    with translated():
        items = list(PlatformGroup.all_groups.query("group", limit=limit + 1, last_evaluated_key=start))
    return _cut(items, limit, lambda g: g.name)


def group_has_members(group_id: str) -> bool:
    """Whether any user belongs to the group."""
    with translated():
        return any(True for _ in PlatformUser.by_group.query(group_id, limit=1))


# --- users -----------------------------------------------------------------------------------------


def get_user(login: str) -> PlatformUser | None:
    """One user by login, or None."""
    with translated():
        try:
            return PlatformUser.get(login)
        except DoesNotExist:
            return None


def create_user(user: PlatformUser) -> None:
    """Write a new user; 409 when the login is taken."""
    with translated("A user with this login already exists."):
        user.save(condition=PlatformUser.login.does_not_exist())


def save_user(user: PlatformUser) -> None:
    """Overwrite a user."""
    with translated():
        user.save()


def delete_user(user: PlatformUser) -> None:
    """Remove a user."""
    with translated():
        user.delete()


def list_users(group_id: str | None, limit: int, cursor: str | None) -> tuple[list[PlatformUser], str | None]:
    """A page of users by login (of one group, when given), and the cursor of the next page."""
    start: dict[str, Any] | None = None
    if cursor:
        login = decode_cursor(cursor, _CURSOR)["k"]
        start = {"login": {"S": login}}
        start.update({"group_id": {"S": group_id}} if group_id else {"listing": {"S": "user"}})
    with translated():
        if group_id:
            results = PlatformUser.by_group.query(group_id, limit=limit + 1, last_evaluated_key=start)
        else:
            results = PlatformUser.all_users.query("user", limit=limit + 1, last_evaluated_key=start)
        items = list(results)
    return _cut(items, limit, lambda u: u.login)


def _cut(items: list[Any], limit: int, key: Any) -> tuple[list[Any], str | None]:
    if len(items) <= limit:
        return items, None
    return items[:limit], encode_cursor({"k": key(items[limit - 1])})


# --- sessions and tokens -----------------------------------------------------------------------------


def put_credential(credential: Credential) -> None:
    """Store a new session or token (its id is the hash of a fresh random value)."""
    credential.ttl = _expiry(int(credential.expires_at))
    with translated():
        credential.save()


def get_credential(credential_id: str) -> Credential | None:
    """A session or token by the hash of its value, or None."""
    with translated():
        try:
            return Credential.get(credential_id)
        except DoesNotExist:
            return None


def delete_credential(credential_id: str) -> None:
    """Forget a session or token."""
    with translated():
        Credential(credential_id).delete()


# --- entities ------------------------------------------------------------------------------------------


def get_entity(entity_id: str) -> Entity | None:
    """One entity by id, or None."""
    with translated():
        try:
            return Entity.get(entity_id)
        except DoesNotExist:
            return None


def create_entity(entity: Entity) -> None:
    """Write a new entity; 409 when the id is taken."""
    with translated("An entity with this id already exists."):
        entity.save(condition=Entity.id.does_not_exist())


def save_entity(entity: Entity) -> bool:
    """Write a changed entity if nobody else changed it since it was read; False when someone did."""
    try:
        with translated():
            entity.save()
    except PutError as e:
        if is_conditional_failure(e):
            return False
        raise
    return True


def delete_entity(entity: Entity) -> bool:
    """Remove an entity if unchanged since it was read; False when it changed or is gone."""
    try:
        with translated():
            entity.delete()
    except DeleteError as e:
        if is_conditional_failure(e):
            return False
        raise
    return True


@dataclass(frozen=True)
class Window:
    """Part of one store's index: the entities ``readers`` may see, created between two positions."""

    store: str
    readers: tuple[str, ...]
    low: str | None = None
    high: str | None = None

    def range_condition(self) -> Any:
        if self.low is not None and self.high is not None:
            return Entity.position.between(self.low, self.high)
        if self.low is not None:
            return Entity.position >= self.low
        if self.high is not None:
            return Entity.position <= self.high
        return None

    def filter_condition(self) -> Any:
        return reduce(lambda a, b: a | b, [Entity.readers.contains(p) for p in self.readers])


class End:
    """The offset lies past the last entity of the window."""


END = End()
_INDEX = Entity.by_store_time.Meta.index_name
_KEY_NAMES = ["id", "store", "position"]


def _query(window: Window, start: dict[str, Any] | None, **kwargs: Any) -> dict[str, Any]:
    with translated():
        result: dict[str, Any] = Entity._get_connection().query(
            window.store,
            range_key_condition=window.range_condition(),
            filter_condition=window.filter_condition(),
            index_name=_INDEX,
            exclusive_start_key=start,
            **kwargs,
        )
    return result


def skip(window: Window, offset: int) -> dict[str, Any] | End | None:
    """The start key after the first ``offset`` visible entities (None for the start, END past the end).

    While the entities read are mostly visible, COUNT queries with ``Limit`` equal to what is left to skip
    move through the index without transferring items; once they are sparse, key-only pages find the
    exact entity to start after.
    """
    start: dict[str, Any] | None = None
    remaining = offset
    dense = True
    while remaining > 0:
        if dense:
            page = _query(window, start, select="COUNT", limit=remaining)
            counted, scanned = int(page.get("Count", 0)), int(page.get("ScannedCount", 0))
            remaining -= counted
            dense = counted * 2 >= scanned
        else:
            page = _query(window, start, attributes_to_get=_KEY_NAMES)
            items = page.get("Items", [])
            if len(items) >= remaining:
                last = items[remaining - 1]
                return {name: last[name] for name in _KEY_NAMES}
            remaining -= len(items)
        start = page.get("LastEvaluatedKey")
        if start is None:
            return END
    return start


def docs(window: Window, start: dict[str, Any] | None, limit: int, *, forward: bool = True) -> list[str]:
    """Up to ``limit`` visible entities' JSON texts from ``start``, in creation order (or reversed)."""
    found: list[str] = []
    dense = True
    while len(found) < limit:
        wanted = limit - len(found)
        page = _query(
            window,
            start,
            attributes_to_get=["doc"],
            limit=wanted if dense else None,
            scan_index_forward=forward,
        )
        items = page.get("Items", [])
        found.extend(item["doc"]["S"] for item in items[:wanted])
        dense = len(items) * 2 >= int(page.get("ScannedCount", 0))
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
    return found


def count(window: Window) -> int:
    """How many entities of the window are visible."""
    total, start = 0, None
    while True:
        page = _query(window, start, select="COUNT")
        total += int(page.get("Count", 0))
        start = page.get("LastEvaluatedKey")
        if start is None:
            return total


# --- websocket connections ---------------------------------------------------------------------------


def put_connection(connection: Connection, expires_at: int) -> None:
    """Store an open connection."""
    connection.ttl = _expiry(expires_at)
    with translated():
        connection.save()


def get_connection(connection_id: str) -> Connection | None:
    """One connection, or None."""
    with translated():
        try:
            return Connection.get(connection_id)
        except DoesNotExist:
            return None


def delete_connection(connection_id: str) -> None:
    """Forget a connection (whether or not it is stored)."""
    with translated():
        Connection(connection_id).delete()


def record_ping(connection_id: str, now: int) -> bool:
    """Note a ping on a stored connection; False when the connection is not stored (any more)."""
    try:
        with translated():
            Connection(connection_id).update(
                actions=[Connection.last_ping_at.set(now)], condition=Connection.id.exists()
            )
    except UpdateError as e:
        if is_conditional_failure(e):
            return False
        raise
    return True


def mark_opened(connection_id: str, now: int) -> bool:
    """Note that the open packet went out; False when it was noted already or the connection is gone."""
    try:
        with translated():
            Connection(connection_id).update(
                actions=[Connection.opened_at.set(now)],
                condition=Connection.id.exists() & Connection.opened_at.does_not_exist(),
            )
    except UpdateError as e:
        if is_conditional_failure(e):
            return False
        raise
    return True


def forget_if_silent(connection_id: str, cutoff: int) -> bool:
    """Remove a connection whose last ping is before ``cutoff``; False when it pinged since."""
    try:
        with translated():
            Connection(connection_id).delete(condition=Connection.last_ping_at < cutoff)
    except DeleteError as e:
        if is_conditional_failure(e):
            return False
        raise
    return True


def connections_of(principal: str, *, user: bool, group: bool) -> list[Connection]:
    """The connections of a user id and/or of a group's members (id and endpoint only)."""
    found: list[Connection] = []
    with translated():
        if user:
            found.extend(Connection.by_user.query(principal))
        if group:
            found.extend(Connection.by_group.query(principal))
    return found


def silent_connections(shard: str, cutoff: int, limit: int) -> list[Connection]:
    """Up to ``limit`` connections of one shard whose last ping is before ``cutoff``."""
    with translated():
        return list(Connection.by_last_ping.query(shard, Connection.last_ping_at < cutoff, limit=limit))
