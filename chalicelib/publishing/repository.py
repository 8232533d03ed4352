"""Keys, queries, conditions and transactions of the publishing service's tables.

Uniqueness is settled by DynamoDB: a slug (per kind), an email and an API key hash are ``Claim`` items
written with ``attribute_not_exists`` in the same transaction as their owner, and removed with it.
Ids come from an atomic counter. Lists query index partitions (merged newest first when there are
several) and count them with the same filters, so ``X-Total`` is exact; nothing here scans.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from pynamodb.exceptions import DoesNotExist, PynamoDBException

from chalicelib import errors
from chalicelib.dynamo import Cancelled, Stale, Transaction, is_conditional_failure, translated, updated
from chalicelib.publishing.models import (
    BLUEPRINT_LIST,
    GROUP_LIST,
    JOB_SHARD,
    PROJECT_LIST,
    THEME_LIST,
    Blueprint,
    Claim,
    Counter,
    Group,
    Membership,
    Project,
    Theme,
    User,
)

M = TypeVar("M")
_ATTEMPTS = 4
_SLUG_CANDIDATES = 25


# --- claims, ids, transactions ----------------------------------------------------------------------


def slug_claim(kind: str, slug: str) -> str:
    return f"slug|{kind}|{slug}"


def email_claim(email: str) -> str:
    return f"email|{email}"


def key_claim(key_hash: str) -> str:
    return f"key|{key_hash}"


def next_id(kind: str) -> int:
    """The next numeric id of ``kind`` (an atomic counter: ids are never reused)."""
    counter = Counter(kind)
    with translated():
        counter.update(actions=[Counter.value.add(1)])
    return int(counter.value)


def claim_owner(key: str) -> int | None:
    """The id owning a claim, or None (a strongly consistent read)."""
    claim = _get(Claim, key, consistent=True)
    return int(claim.owner_id) if claim is not None else None


def free_slug(kind: str, base: str, owner_id: int | None = None) -> str:
    """The first of ``base``, ``base-1``, ``base-2``... not claimed by another item of ``kind``."""
    for start in itertools.count(0, _SLUG_CANDIDATES):
        candidates = [base if n == 0 else f"{base}-{n}" for n in range(start, start + _SLUG_CANDIDATES)]
        taken = {
            str(c.key): int(c.owner_id)
            for c in _batch_get(Claim, [slug_claim(kind, s) for s in candidates], consistent=True)
        }
        for slug in candidates:
            owner = taken.get(slug_claim(kind, slug))
            if owner is None or owner == owner_id:
                return slug
    raise AssertionError("unreachable")  # pragma: no cover


def _get(model: type[M], key: Any, *, consistent: bool = False, range_key: Any = None) -> M | None:
    with translated():
        try:
            return model.get(key, range_key, consistent_read=consistent)  # type: ignore[attr-defined]
        except DoesNotExist:
            return None


def _batch_get(model: type[M], keys: Iterable[Any], *, consistent: bool = False) -> list[M]:
    unique = list(dict.fromkeys(keys))
    if not unique:
        return []
    with translated():
        return list(model.batch_get(unique, consistent_read=consistent))  # type: ignore[attr-defined]


def save(item: Any, condition: Any = None) -> None:
    """Overwrite an item (its lock_version must not have moved); :class:`Stale` otherwise."""
    try:
        with translated():
            item.save(condition=condition)
    except PynamoDBException as e:
        if is_conditional_failure(e):
            raise Stale() from e
        raise


def update(item: Any, actions: list[Any], condition: Any = None) -> bool:
    """Apply update actions under ``condition`` (and the lock); False when the condition failed."""
    return updated(item, actions, condition)


def create_with_slug(kind: str, item: Any, base: str, claims: Iterable[tuple[str, str]] = ()) -> None:
    """Write a new item under the first free slug from ``base``, with extra claims (label, key).

    :class:`Cancelled` names an extra claim that was taken; a slug taken meanwhile is retried.
    """
    now = _now()
    extra = list(claims)
    for _ in range(_ATTEMPTS):
        item.slug = free_slug(kind, base)
        transaction = Transaction(Claim)
        transaction.put(
            "slug",
            Claim(slug_claim(kind, item.slug), owner_id=item.id, created_at=now),
            Claim.key.does_not_exist(),
        )
        for label, key in extra:
            transaction.put(label, Claim(key, owner_id=item.id, created_at=now), Claim.key.does_not_exist())
        transaction.put("item", item, type(item).id.does_not_exist())
        try:
            transaction.commit()
            return
        except Cancelled as e:
            if e.failed != {"slug"}:
                raise
    raise errors.ServiceUnavailable("Too many items were created with this slug at once; try again.")


def save_with_slug(kind: str, item: Any, old_slug: str, base: str | None) -> None:
    """Save an item, moving it to the first free slug from ``base`` when that differs from ``old_slug``."""
    if base is None or base == old_slug:
        item.slug = old_slug
        save(item)
        return
    now = _now()
    for _ in range(_ATTEMPTS):
        item.slug = free_slug(kind, base, owner_id=int(item.id))
        if item.slug == old_slug:
            save(item)
            return
        transaction = Transaction(Claim)
        transaction.delete("old", Claim(slug_claim(kind, old_slug)), Claim.owner_id == item.id)
        transaction.put(
            "slug",
            Claim(slug_claim(kind, item.slug), owner_id=item.id, created_at=now),
            Claim.key.does_not_exist(),
        )
        transaction.put("item", item)
        try:
            transaction.commit()
            return
        except Cancelled as e:
            if e.failed != {"slug"}:
                item.slug = old_slug
                raise Stale() from e
    item.slug = old_slug
    raise errors.ServiceUnavailable("Too many items took this slug at once; try again.")


def delete_with_claims(kind: str, item: Any, claims: Iterable[str] = ()) -> None:
    """Remove an item with its slug claim and other claims."""
    transaction = Transaction(Claim)
    transaction.delete("slug", Claim(slug_claim(kind, item.slug)))
    for key in claims:
        transaction.delete(key, Claim(key))
    transaction.delete("item", item)
    try:
        transaction.commit()
    except Cancelled as e:
        raise Stale() from e


def _now() -> int:
    return int(time.time() * 1000)


# --- lookups ------------------------------------------------------------------------------------------


def get(model: type[M], item_id: int, *, consistent: bool = True) -> M | None:
    """One item by numeric id, or None."""
    return _get(model, item_id, consistent=consistent)


def get_by_slug(model: type[M], kind: str, slug: str) -> M | None:
    """One item by slug (through its claim), or None."""
    owner = claim_owner(slug_claim(kind, slug))
    return _get(model, owner, consistent=True) if owner is not None else None


def get_many(model: type[M], ids: Iterable[int]) -> dict[int, M]:
    """Items by id (those that exist)."""
    return {int(item.id): item for item in _batch_get(model, ids)}  # type: ignore[attr-defined]


# --- users, groups, memberships -----------------------------------------------------------------------


def user_by_email(email: str) -> User | None:
    owner = claim_owner(email_claim(email))
    return _get(User, owner, consistent=True) if owner is not None else None


def user_by_key_hash(key_hash: str) -> User | None:
    owner = claim_owner(key_claim(key_hash))
    if owner is None:
        return None
    user = _get(User, owner, consistent=True)
    return user if user is not None and user.key_hash == key_hash else None


def create_user(user: User) -> None:
    """Write a new user with its email and key claims; :class:`Cancelled` naming ``email`` when taken."""
    now = _now()
    transaction = Transaction(Claim)
    transaction.put(
        "email", Claim(email_claim(user.email), owner_id=user.id, created_at=now), Claim.key.does_not_exist()
    )
    transaction.put(
        "key", Claim(key_claim(user.key_hash), owner_id=user.id, created_at=now), Claim.key.does_not_exist()
    )
    transaction.put("item", user, User.id.does_not_exist())
    transaction.commit()


def replace_key(user: User, new_hash: str) -> None:
    """Swap a user's key: the old claim goes, the new one comes, in one transaction."""
    old_hash = user.key_hash
    user.key_hash = new_hash
    user.updated_at = _now()
    transaction = Transaction(Claim)
    transaction.delete("old", Claim(key_claim(old_hash)))
    transaction.put(
        "key", Claim(key_claim(new_hash), owner_id=user.id, created_at=user.updated_at), Claim.key.does_not_exist()
    )
    transaction.put("item", user)
    try:
        transaction.commit()
    except Cancelled as e:
        user.key_hash = old_hash
        raise Stale() from e


def save_user(user: User) -> None:
    save(user)


def memberships_of(user_id: int) -> list[Membership]:
    """Every group role of a user (one Query)."""
    with translated():
        return list(Membership.query(user_id, consistent_read=True))


def members_of(group_id: int) -> list[Membership]:
    with translated():
        return list(Membership.by_group.query(group_id))


def get_membership(user_id: int, group_id: int) -> Membership | None:
    return _get(Membership, user_id, range_key=group_id, consistent=True)


def save_membership(membership: Membership) -> None:
    with translated():
        membership.save()


def delete_membership(membership: Membership) -> None:
    with translated():
        membership.delete()


def list_groups() -> list[Group]:
    with translated():
        return list(Group.all_groups.query(GROUP_LIST))


# --- projects, themes, blueprints: lists ------------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    """One index partition of a list, with the filter applied on what it reads."""

    index: Any
    hash_key: Any
    condition: Any = None


def page(partitions: list[Partition], offset: int, limit: int) -> tuple[int, list[Any]]:
    """The total of every partition, and items ``offset`` to ``offset + limit`` of them, newest first.

    The partitions must be disjoint. Each is counted with its filter (DynamoDB reads the partition's
    index items and returns only the count), then the partitions are merged newest first, reading only
    as far as the requested page.
    """
    with translated():
        total = sum(p.index.count(p.hash_key, filter_condition=p.condition) for p in partitions)
        if offset >= total:
            return total, []
        page_size = min(max(offset + limit, 10), 500)
        streams: list[Iterator[Any]] = [
            iter(p.index.query(p.hash_key, filter_condition=p.condition, scan_index_forward=False, page_size=page_size))
            for p in partitions
        ]
        merged = heapq.merge(*streams, key=lambda item: item.updated_at, reverse=True)
        return total, list(itertools.islice(merged, offset, offset + limit))


def all_projects() -> Partition:
    return Partition(Project.all_projects, PROJECT_LIST)


def all_themes() -> Partition:
    return Partition(Theme.all_themes, THEME_LIST)


def all_blueprints() -> Partition:
    return Partition(Blueprint.all_blueprints, BLUEPRINT_LIST)


def projects_in_use(index: Any, key: int) -> bool:
    """Whether any project uses a theme or blueprint (``index`` is ``by_theme`` or ``by_blueprint``)."""
    with translated():
        return bool(index.count(key, limit=1))


# --- jobs (builds and repository updates) -----------------------------------------------------------------


def active_job(model: type[Any], now: int) -> Any:
    """The condition "this item has a queued or running job that is not past its deadline"."""
    return model.job_id.exists() & (model.job_deadline >= now)


def queue_job(item: Any, job_id: str, kind: str, deadline: int, now: int, extra: list[Any]) -> bool:
    """Record a queued job unless one is active; False when one is (the 409 case)."""
    model = type(item)
    actions = [
        model.job_id.set(job_id),
        model.job_kind.set(kind),
        model.job_deadline.set(deadline),
        model.job_shard.set(JOB_SHARD),
        model.job_started_at.remove(),
        model.updated_at.set(now),
        *extra,
    ]
    condition = model.job_id.does_not_exist() | (model.job_deadline < now)
    return _update_unlocked(item, actions, condition)


def start_job(item: Any, job_id: str, deadline: int, now: int) -> bool:
    """Mark the queued job started (once: a retried invocation finds it started); False otherwise."""
    model = type(item)
    actions = [model.job_started_at.set(now), model.job_deadline.set(deadline)]
    condition = (model.job_id == job_id) & model.job_started_at.does_not_exist()
    return _update_unlocked(item, actions, condition)


def end_job(item: Any, job_id: str, actions: list[Any], now: int, *, expired_only: bool = False) -> bool:
    """Clear the job and apply ``actions`` if ``job_id`` is still the item's job; False otherwise."""
    model = type(item)
    clear = [
        model.job_id.remove(),
        model.job_kind.remove(),
        model.job_deadline.remove(),
        model.job_shard.remove(),
        model.job_started_at.remove(),
        model.updated_at.set(now),
    ]
    condition = model.job_id == job_id
    if expired_only:
        condition = condition & (model.job_deadline < now)
    return _update_unlocked(item, [*clear, *actions], condition)


def _update_unlocked(item: Any, actions: list[Any], condition: Any) -> bool:
    """An update settled by its own condition, not the item's lock (which it still moves, so saves see it)."""
    return updated(item, actions, condition, add_version_condition=False)


def expired_jobs(model: type[Any], now: int, limit: int) -> list[tuple[int, str]]:
    """(id, job id) of items whose job deadline has passed, oldest first (the sparse ``jobs`` index)."""
    with translated():
        results = model.jobs.query(JOB_SHARD, model.job_deadline < now, limit=limit)
        return [(int(item.id), str(item.job_id)) for item in results]
