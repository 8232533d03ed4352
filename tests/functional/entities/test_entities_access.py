"""The access matrix: who may read, change and delete an entity, and who sees it in lists.

One entity is owned by ``owner`` (group ops). Its access list names ``named`` (a user of another group)
and the group ``partners``; its branch names the group ``auditors``.
"""

from __future__ import annotations

import pytest

from tests.support.entities_stack import PLATFORM_403, Platform

#            role          group       read   change delete
MATRIX = [
    ("owner", "ops", True, True, True),
    ("teammate", "ops", True, True, True),
    ("named", "elsewhere", True, True, False),
    ("partner", "partners", True, True, False),
    ("auditor", "auditors", True, False, False),
    ("stranger", "strangers", False, False, False),
]


def _entity(platform: Platform, world: dict) -> str:
    """A new entity of owner's, shared through access (named, partners) and branch (auditors)."""
    body = {
        "name": "pump",
        "access": [world["ids"]["named"], world["ids"]["partners"]],
        "branch": [world["ids"]["auditors"]],
    }
    created = platform.call("POST", "/api/v1/objects", body, world["owner"])
    assert created.status == 200
    assert created.body["access"] == body["access"] and created.body["branch"] == body["branch"]
    return str(created.body["_id"])


@pytest.fixture
def world(platform: Platform) -> dict:
    """A session per role, and the ids access lists name."""
    users = {role: platform.add_user(role, group) for role, group, *_ in MATRIX}
    ids = {
        "named": users["named"]["_id"],
        "partners": users["partner"]["group"]["_id"],
        "auditors": users["auditor"]["group"]["_id"],
    }
    return {"ids": ids, **{role: platform.sign_in(role) for role in users}}


def test_reading(platform: Platform, world: dict) -> None:
    entity_id = _entity(platform, world)
    for role, _group, read, _change, _delete in MATRIX:
        reply = platform.call("GET", f"/api/v1/objects/{entity_id}", headers=world[role])
        listed = platform.call("GET", "/api/v1/objects", headers=world[role]).body
        meta = platform.call("GET", "/api/v1/objects?meta=true", headers=world[role]).body
        if read:
            assert reply.status == 200 and reply.body["name"] == "pump", role
            assert [e["_id"] for e in listed] == [entity_id], role
            assert meta["count"] == 1 and meta["first"]["_id"] == entity_id, role
        else:
            assert reply.status == 403 and reply.body == PLATFORM_403, role
            assert listed == [] and meta == {"count": 0, "first": None, "last": None}, role


def test_changing(platform: Platform, world: dict) -> None:
    entity_id = _entity(platform, world)
    for role, _group, _read, change, _delete in MATRIX:
        before = platform.call("GET", f"/api/v1/objects/{entity_id}", headers=world["owner"]).body["name"]
        reply = platform.call("PATCH", f"/api/v1/objects/{entity_id}", {"name": f"by {role}"}, world[role])
        after = platform.call("GET", f"/api/v1/objects/{entity_id}", headers=world["owner"]).body["name"]
        if change:
            assert reply.status == 200 and reply.body["name"] == after == f"by {role}", role
        else:
            assert reply.status == 403 and reply.body == PLATFORM_403 and after == before, role


def test_deleting(platform: Platform, world: dict) -> None:
    for role, _group, _read, _change, delete in MATRIX:
        entity_id = _entity(platform, world)
        reply = platform.call("DELETE", f"/api/v1/objects/{entity_id}", headers=world[role])
        still_there = platform.call("GET", f"/api/v1/objects/{entity_id}", headers=world["owner"]).status == 200
        if delete:
            assert reply.status == 200 and not still_there, role
        else:
            assert reply.status == 403 and reply.body == PLATFORM_403 and still_there, role


def test_lists_mix_visible_and_hidden_entities_in_creation_order(platform: Platform) -> None:
    platform.add_user("ann", "ops")
    platform.add_user("eve", "other")
    ann, eve = platform.sign_in("ann"), platform.sign_in("eve")
    eve_id = platform.call("GET", "/api/v1/auth", headers=eve).body["_id"]
    made = []
    for i in range(12):
        body = {"n": i, "access": [eve_id]} if i % 3 == 0 else {"n": i}
        made.append(platform.call("POST", "/api/v1/things", body, ann).body["_id"])
    seen = [e["n"] for e in platform.call("GET", "/api/v1/things", headers=eve).body]
    assert seen == [0, 3, 6, 9]
    assert [e["n"] for e in platform.call("GET", "/api/v1/things?offset=1&limit=2", headers=eve).body] == [3, 6]
    assert platform.call("GET", "/api/v1/things?offset=4", headers=eve).body == []
    meta = platform.call("GET", "/api/v1/things?meta=true&only=n", headers=eve).body
    assert meta == {"count": 4, "first": {"_id": made[0], "n": 0}, "last": {"_id": made[9], "n": 9}}
    assert len(platform.call("GET", "/api/v1/things", headers=ann).body) == 12


def test_moving_a_user_to_another_group_moves_their_access(platform: Platform) -> None:
    platform.add_user("ann", "ops")
    platform.add_user("bob", "ops")
    ann, bob = platform.sign_in("ann"), platform.sign_in("bob")
    entity_id = platform.call("POST", "/api/v1/things", {"n": 1}, ann).body["_id"]
    assert platform.call("GET", f"/api/v1/things/{entity_id}", headers=bob).status == 200
    platform.admin("PATCH", "/admin/platform/users/bob", {"group": "sales"})
    assert platform.call("GET", f"/api/v1/things/{entity_id}", headers=bob).status == 403
    assert platform.call("GET", "/api/v1/things", headers=bob).body == []
