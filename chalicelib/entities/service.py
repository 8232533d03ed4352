"""Rules of the entity store: stores, entities, who may read and write them, and lists.

Access: the owner, members of the entity's group, the principals in ``access`` (user or group ids) and
members of the groups in ``branch`` may read an entity. The owner, members of its group and the
principals in ``access`` may change it (PATCH); only the owner and members of its group may delete it.
``branch`` grants reading only. Everyone else gets 403 on the entity and does not see it in lists.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.entities import jsontext, repository
from chalicelib.entities.auth import Principal
from chalicelib.entities.models import Entity
from chalicelib.entities.objectid import is_object_id, new_object_id
from chalicelib.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge
from chalicelib.http import now_ms, parse_id

log = logging.getLogger("keyport.entities")
STORE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}\Z")
# Names whose /api/v1/<name> paths belong to other APIs (static routes win there; see ARCHITECTURE.md).
RESERVED_STORES = frozenset({"auth", "user", "users", "tag", "tags", "repo", "repos", "repo-tag-assoc"})
SYSTEM_FIELDS = ("_id", "owner", "group", "access", "branch", "time")
NOT_ON_CREATE = frozenset({"_id", "owner", "group", "time"})
NOT_ON_PATCH = frozenset(SYSTEM_FIELDS)
MAX_ENTITY_BYTES = 350_000  # the entity as JSON text; DynamoDB's item limit is 400 KB
MAX_GRANTS = 96  # ids in access and branch together
LIST_MAX = 10_000
MAX_OFFSET = 10**9
MAX_TIME = 10**13 - 1  # 13 digits of milliseconds: year 2286
PATCH_ATTEMPTS = 3


class InvalidStore(BadRequest):
    code = "invalid_store"


class InvalidId(BadRequest):
    code = "invalid_id"


class InvalidQuery(BadRequest):
    code = "invalid_query"


class ReadOnlyField(BadRequest):
    code = "read_only_field"


class EntityNotFound(NotFound):
    code = "entity_not_found"
    default_message = "No entity has this id in this store."


class EntityTooLarge(PayloadTooLarge):
    code = "entity_too_large"
    default_message = f"An entity can be at most {MAX_ENTITY_BYTES} bytes as JSON."


# --- names, ids and bodies ----------------------------------------------------------------------------


def valid_store(store: str) -> str:
    """The store name, or 400: 1 to 64 letters, digits, '_' or '-', and not a path another API owns."""
    if not STORE_PATTERN.match(store):
        raise InvalidStore(
            f"'{store[:64]}' is not a valid store name: 1 to 64 letters, digits, '_' or '-', starting with a letter."
        )
    if store.lower() in RESERVED_STORES:
        raise InvalidStore(f"'{store}' cannot be a store: /api/v1/{store} belongs to another API.")
    return store


def _valid_id(entity_id: str) -> str:
    if not is_object_id(entity_id):
        raise InvalidId(f"'{entity_id[:64]}' is not an entity id: ids are 24 hexadecimal characters.")
    return entity_id.lower()


def _object(raw: bytes) -> dict[str, Any]:
    value = jsontext.loads(raw)
    if not isinstance(value, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    return value


def _principal_ids(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(is_object_id(v) for v in value):
        raise BadRequest(f"'{name}' must be a list of ids (24 hexadecimal characters each).", code=f"invalid_{name}")
    return list(dict.fromkeys(v.lower() for v in value))


def _sized(doc: str) -> str:
    if len(doc.encode("utf-8")) > MAX_ENTITY_BYTES:
        raise EntityTooLarge()
    return doc


def position(time_ms: int, entity_id: str) -> str:
    """The index sort key: creation time then id, so a store sorts by creation."""
    return f"{time_ms:013d}.{entity_id}"


def new_entity(store: str, owner: str, group: str, fields: dict[str, Any], time_ms: int) -> Entity:
    """An entity (not yet stored) with a new id; ``fields`` may carry ``access`` and ``branch``."""
    fields = dict(fields)
    access = _principal_ids(fields.pop("access", []), "access")
    branch = _principal_ids(fields.pop("branch", []), "branch")
    if len(access) + len(branch) > MAX_GRANTS:
        raise BadRequest(f"'access' and 'branch' can hold at most {MAX_GRANTS} ids together.", code="too_many_ids")
    entity_id = new_object_id(time_ms)
    document = {
        "_id": entity_id,
        "owner": owner,
        "group": group,
        "access": access,
        "branch": branch,
        "time": time_ms,
        **fields,
    }
    return Entity(
        entity_id,
        store=store,
        position=position(time_ms, entity_id),
        owner=owner,
        group=group,
        readers={owner, group, *access, *branch},
        doc=_sized(jsontext.dumps(document)),
    )


# --- permissions ----------------------------------------------------------------------------------------


def can_read(caller: Principal, entity: Entity) -> bool:
    """Owner, group members, principals in access, members of groups in branch."""
    return not set(caller.principals).isdisjoint(entity.readers or set())


def grants(entity: Entity) -> tuple[list[str], list[str]]:
    """The entity's ``access`` and ``branch`` lists (kept in its doc)."""
    document = jsontext.stored(str(entity.doc))
    return list(document.get("access") or []), list(document.get("branch") or [])


def can_change(caller: Principal, entity: Entity) -> bool:
    """Owner, group members, principals in access."""
    if caller.user_id == entity.owner or caller.group_id == entity.group:
        return True
    return not set(caller.principals).isdisjoint(grants(entity)[0])


def can_delete(caller: Principal, entity: Entity) -> bool:
    """Owner and group members."""
    return caller.user_id == entity.owner or caller.group_id == entity.group


def _load(store: str, entity_id: str) -> Entity:
    store, entity_id = valid_store(store), _valid_id(entity_id)
    entity = repository.get_entity(entity_id)
    if entity is None or entity.store != store:
        raise EntityNotFound(f"No entity has the id {entity_id} in the store '{store}'.")
    return entity


def _readable(caller: Principal, store: str, entity_id: str) -> Entity:
    entity = _load(store, entity_id)
    if not can_read(caller, entity):
        raise Forbidden()
    return entity


# --- entities ------------------------------------------------------------------------------------------


def create(caller: Principal, store: str, raw: bytes) -> str:
    """POST /api/v1/{store}: the new entity as JSON text."""
    store = valid_store(store)
    fields = _object(raw)
    refused = sorted(NOT_ON_CREATE & set(fields))
    if refused:
        raise ReadOnlyField(f"{', '.join(refused)} cannot be given: the system sets them.")
    entity = new_entity(store, caller.user_id, caller.group_id, fields, now_ms())
    repository.create_entity(entity)
    _notify("created", store, entity)
    return str(entity.doc)


def get(caller: Principal, store: str, entity_id: str) -> str:
    """GET /api/v1/{store}/{id}."""
    return str(_readable(caller, store, entity_id).doc)


def patch(caller: Principal, store: str, entity_id: str, raw: bytes) -> str:
    """PATCH /api/v1/{store}/{id}: sets the given fields, keeps the others."""
    store, entity_id = valid_store(store), _valid_id(entity_id)
    changes = _object(raw)
    refused = sorted(NOT_ON_PATCH & set(changes))
    if refused:
        raise ReadOnlyField(f"{', '.join(refused)} cannot be changed.")
    for _ in range(PATCH_ATTEMPTS):
        entity = _readable(caller, store, entity_id)
        if not can_change(caller, entity):
            raise Forbidden()
        document = jsontext.stored(str(entity.doc))
        document.update(changes)
        entity.doc = _sized(jsontext.dumps(document))
        if repository.save_entity(entity):
            _notify("updated", store, entity)
            return str(entity.doc)
    raise Conflict("The entity kept changing while this change was applied; try again.")


def delete(caller: Principal, store: str, entity_id: str) -> str:
    """DELETE /api/v1/{store}/{id}: the id of the removed entity."""
    store, entity_id = valid_store(store), _valid_id(entity_id)
    for _ in range(PATCH_ATTEMPTS):
        entity = _readable(caller, store, entity_id)
        if not can_delete(caller, entity):
            raise Forbidden()
        if repository.delete_entity(entity):
            _notify("deleted", store, entity)
            return entity_id
    raise Conflict("The entity kept changing while it was being removed; try again.")


def readers(entity: Entity) -> list[list[str]]:
    """Whose websockets hear of the entity: [principal, kind] of its owner, group, access and branch."""
    from chalicelib.entities.sockets import ANY, GROUP, USER  # a write's only: keeps sockets out of a read

    access, branch = grants(entity)
    targets = [[entity.owner, USER], [entity.group, GROUP]]
    targets += [[principal, ANY] for principal in access]
    targets += [[group, GROUP] for group in branch]
    return targets


def _notify(event: str, store: str, entity: Entity) -> None:
    """Queue the websocket event of a committed write. The write is done and its success is the answer: a
    failure here is logged with the entity's id and never raised (a client would retry, and duplicate)."""
    try:
        from chalicelib.entities import sockets  # a write's only: the SDK's invoke stays out of a read's cold start

        sockets.notify(event, store, entity, readers(entity))
    except Exception:
        log.exception("the %s event of entity %s in store %s could not be queued", event, entity.id, store)


# --- lists ----------------------------------------------------------------------------------------------

_LIST_PARAMS = frozenset({"offset", "limit", "only", "meta", "from", "to", "begin", "end"})


@dataclass(frozen=True)
class ListQuery:
    """The parameters of GET /api/v1/{store}."""

    offset: int = 0
    limit: int = LIST_MAX
    only: tuple[str, ...] | None = None
    meta: bool = False
    start: int | None = None
    stop: int | None = None


def _moment(value: str, name: str) -> int:
    """Milliseconds since the epoch, or ISO 8601 (UTC unless it names an offset)."""
    text = value.strip()
    try:
        if re.fullmatch(r"-?[0-9]{1,16}", text):  # ASCII digits: \d would take any script's
            ms = int(text)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            ms = int(moment.timestamp() * 1000)
    except ValueError as e:
        raise InvalidQuery(
            f"'{name}' must be milliseconds since 1970 or an ISO 8601 date (e.g. 2019-09-01T00:00Z)."
        ) from e
    return max(0, min(ms, MAX_TIME))


def _count(params: dict[str, str], name: str, low: int, high: int) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    value = parse_id(raw)
    if value is None:
        raise InvalidQuery(f"'{name}' must be a whole number between {low} and {high}.")
    if not low <= value <= high:
        raise InvalidQuery(f"'{name}' must be between {low} and {high}.")
    return value


def _either(params: dict[str, str], first: str, second: str) -> str | None:
    a, b = params.get(first), params.get(second)
    if a is not None and b is not None and a != b:
        raise InvalidQuery(f"'{first}' and '{second}' mean the same; give one of them.")
    return a if a is not None else b


def parse_list_query(params: dict[str, str]) -> ListQuery:
    """The list parameters, checked; 400 for unknown or invalid ones."""
    unknown = sorted(set(params) - _LIST_PARAMS)
    if unknown:
        raise InvalidQuery(
            f"Unknown query parameter(s): {', '.join(unknown)[:200]}; supported: {', '.join(sorted(_LIST_PARAMS))}."
        )
    meta_raw = params.get("meta")
    if meta_raw not in (None, "", "true", "false"):
        raise InvalidQuery("'meta' must be true or false.")
    meta = meta_raw == "true"
    offset = _count(params, "offset", 0, MAX_OFFSET)
    limit = _count(params, "limit", 1, LIST_MAX)
    if meta and (offset is not None or limit is not None):
        raise InvalidQuery("'meta' cannot be used together with 'offset' or 'limit'.")
    only = None
    if params.get("only") is not None:
        names = [n.strip() for n in params["only"].split(",") if n.strip()]
        if len(names) > 100:
            raise InvalidQuery("'only' can name at most 100 fields.")
        only = tuple(dict.fromkeys(["_id", *names]))
    start, stop = _either(params, "from", "begin"), _either(params, "to", "end")
    return ListQuery(
        offset=offset or 0,
        limit=limit or LIST_MAX,
        only=only,
        meta=meta,
        start=_moment(start, "from") if start is not None else None,
        stop=_moment(stop, "to") if stop is not None else None,
    )


def _project(doc: str, only: tuple[str, ...] | None) -> str:
    if only is None:
        return doc
    document = jsontext.stored(doc)
    return jsontext.dumps({name: document[name] for name in only if name in document})


def list_entities(caller: Principal, store: str, params: dict[str, str]) -> str:
    """GET /api/v1/{store}: a JSON array, oldest first; with meta=true, the count, first and last."""
    store = valid_store(store)
    query = parse_list_query(params)
    window = repository.Window(
        store,
        caller.principals,
        low=f"{query.start:013d}" if query.start is not None else None,
        high=f"{query.stop:013d}.~" if query.stop is not None else None,
    )
    empty = query.start is not None and query.stop is not None and query.start > query.stop
    if query.meta:
        if empty:
            return '{"count":0,"first":null,"last":null}'
        first = repository.docs(window, None, 1)
        last = repository.docs(window, None, 1, forward=False)
        total = repository.count(window) if first else 0
        first_text = _project(first[0], query.only) if first else "null"
        last_text = _project(last[0], query.only) if last else "null"
        return f'{{"count":{total},"first":{first_text},"last":{last_text}}}'
    if empty:
        return "[]"
    start = repository.skip(window, query.offset)
    if isinstance(start, repository.End):
        return "[]"
    found = repository.docs(window, start, query.limit)
    return "[" + ",".join(_project(doc, query.only) for doc in found) + "]"
