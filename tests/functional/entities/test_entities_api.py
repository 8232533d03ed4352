"""Entities: create, read, change, delete; exact numbers; store names, ids and bodies refused clearly."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from tests.support.entities_stack import PLATFORM_403, PLATFORM_404, Platform, RecordingLambda


@pytest.fixture
def ann(platform: Platform) -> dict[str, str]:
    platform.add_user("ann", "ops")
    return platform.sign_in("ann")


def test_an_entity_is_created_with_system_fields_and_read_back(platform: Platform, ann: dict[str, str]) -> None:
    me = platform.call("GET", "/api/v1/auth", headers=ann).body
    before = int(time.time() * 1000)
    created = platform.call("POST", "/api/v1/objects", {"name": "pump", "config": {"rpm": 1200}}, ann)
    assert created.status == 200
    entity = created.body
    assert list(entity)[:6] == ["_id", "owner", "group", "access", "branch", "time"]
    assert entity["owner"] == me["_id"] and entity["group"] == me["group"]
    assert entity["access"] == [] and entity["branch"] == []
    assert before <= entity["time"] <= int(time.time() * 1000)
    assert entity["name"] == "pump" and entity["config"] == {"rpm": 1200}

    # ObjectId layout: 4-byte creation second, 5 process bytes, 3-byte counter.
    object_id = bytes.fromhex(entity["_id"])
    assert len(object_id) == 12 and int.from_bytes(object_id[:4], "big") == entity["time"] // 1000
    second = platform.call("POST", "/api/v1/objects", {"name": "valve"}, ann).body
    other = bytes.fromhex(second["_id"])
    assert other[4:9] == object_id[4:9]
    assert int.from_bytes(other[9:], "big") == (int.from_bytes(object_id[9:], "big") + 1) % 2**24

    fetched = platform.call("GET", f"/api/v1/objects/{entity['_id']}", headers=ann)
    assert fetched.status == 200 and fetched.body == entity
    assert platform.call("GET", f"/api/v1/objects/{entity['_id'].upper()}", headers=ann).body == entity


def test_numbers_and_nesting_are_kept_exactly(platform: Platform, ann: dict[str, str]) -> None:
    text = (
        '{"a":0.1,"big":12345678901234567890,"trailing":1.10,"huge":1e400,"neg":-0,"exp":2.5E-3,'
        '"nested":{"list":[1,2.000,{"deep":[[null,true,false,"x"]]}],"empty":{},"none":[]},'
        '"unicode":"caf\u00e9 \u2603 \U0001f600","escaped":"line\\nbreak \\"quoted\\""}'
    )
    created = platform.call("POST", "/api/v1/objects", text, ann)
    assert created.status == 200, created.text
    assert created.text.endswith(text[1:])
    escaped = platform.call("POST", "/api/v1/objects", '{"s":"caf\\u00e9 \\ud83d\\ude00"}', ann)
    assert escaped.body["s"] == "caf\u00e9 \U0001f600"  # escapes are kept as the characters they stand for
    fetched = platform.call("GET", f"/api/v1/objects/{created.body['_id']}", headers=ann)
    assert fetched.text == created.text
    listed = platform.call("GET", "/api/v1/objects", headers=ann)
    assert listed.text.startswith(f"[{created.text},")
    patched = platform.call("PATCH", f"/api/v1/objects/{created.body['_id']}", '{"price":19.990}', ann)
    assert patched.text.endswith(',"price":19.990}') and '"big":12345678901234567890' in patched.text


def test_patch_changes_only_the_given_fields(platform: Platform, ann: dict[str, str]) -> None:
    entity = platform.call("POST", "/api/v1/objects", {"name": "pump", "rpm": 1, "keep": "me"}, ann).body
    patched = platform.call("PATCH", f"/api/v1/objects/{entity['_id']}", {"rpm": 2, "added": [1], "name": None}, ann)
    assert patched.status == 200
    assert patched.body == {**entity, "rpm": 2, "name": None, "added": [1]}
    assert platform.call("GET", f"/api/v1/objects/{entity['_id']}", headers=ann).body == patched.body


@pytest.mark.parametrize("field", ["_id", "owner", "group", "access", "branch", "time"])
def test_patch_cannot_change_system_fields(platform: Platform, ann: dict[str, str], field: str) -> None:
    entity = platform.call("POST", "/api/v1/objects", {"name": "pump"}, ann).body
    reply = platform.call("PATCH", f"/api/v1/objects/{entity['_id']}", {field: entity[field], "name": "x"}, ann)
    assert reply.status == 400
    assert reply.body["tags"] == ["error_bad_request"] and field in reply.body["message"]
    assert platform.call("GET", f"/api/v1/objects/{entity['_id']}", headers=ann).body["name"] == "pump"


@pytest.mark.parametrize("field", ["_id", "owner", "group", "time"])
def test_create_refuses_fields_the_system_sets(platform: Platform, ann: dict[str, str], field: str) -> None:
    reply = platform.call("POST", "/api/v1/objects", {field: "5f0000000000000000000000"}, ann)
    assert reply.status == 400 and field in reply.body["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"access": "5f0000000000000000000000"},
        {"access": ["not-an-id"]},
        {"branch": [1]},
        {"access": [f"{i:024x}" for i in range(50)], "branch": [f"{i + 100:024x}" for i in range(47)]},
    ],
)
def test_create_refuses_invalid_access_lists(platform: Platform, ann: dict[str, str], body: dict) -> None:
    assert platform.call("POST", "/api/v1/objects", body, ann).status == 400


def test_delete_removes_the_entity(platform: Platform, ann: dict[str, str]) -> None:
    entity = platform.call("POST", "/api/v1/objects", {"name": "pump"}, ann).body
    removed = platform.call("DELETE", f"/api/v1/objects/{entity['_id']}", headers=ann)
    assert removed.status == 200 and removed.body == {"sucess": True, "success": True, "_id": entity["_id"]}
    for method in ("GET", "PATCH", "DELETE"):
        reply = platform.call(method, f"/api/v1/objects/{entity['_id']}", {"a": 1} if method == "PATCH" else None, ann)
        assert reply.status == 404 and reply.body == PLATFORM_404
    assert platform.call("GET", "/api/v1/objects", headers=ann).body == []


def test_ids_are_checked_clearly(platform: Platform, ann: dict[str, str]) -> None:
    entity = platform.call("POST", "/api/v1/objects", {"name": "pump"}, ann).body
    for bad in ("123", "zz" * 12, entity["_id"] + "0", "5f00000000000000000000-0"):
        reply = platform.call("GET", f"/api/v1/objects/{bad}", headers=ann)
        assert reply.status == 400 and "24 hexadecimal" in reply.body["message"], bad
    missing = platform.call("GET", "/api/v1/objects/5f0000000000000000000000", headers=ann)
    assert missing.status == 404 and missing.body == PLATFORM_404
    # An id of another store is not found in this one.
    assert platform.call("GET", f"/api/v1/models/{entity['_id']}", headers=ann).body == PLATFORM_404


@pytest.mark.parametrize("store", ["auth", "user", "users", "tag", "tags", "repo", "repos", "repo-tag-assoc", "Users"])
def test_store_names_owned_by_other_routes_are_refused(platform: Platform, ann: dict[str, str], store: str) -> None:
    from chalicelib.entities import service

    with pytest.raises(service.InvalidStore, match="belongs to another API"):
        service.valid_store(store)


@pytest.mark.parametrize("path", ["/api/v1/user", "/api/v1/repo-tag-assoc", "/api/v1/Tags"])
def test_reserved_store_paths_not_routed_elsewhere_answer_400(
    platform: Platform, ann: dict[str, str], path: str
) -> None:
    for method in ("GET", "POST"):
        reply = platform.call(method, path, {"a": 1} if method == "POST" else None, ann)
        assert reply.status == 400, (method, path, reply.text)


def test_every_static_api_v1_segment_is_a_reserved_store_name() -> None:
    from app import app
    from chalicelib.entities import service

    segments = {
        path.split("/")[3]
        for path in app.routes
        if path.startswith("/api/v1/") and not path.split("/")[3].startswith("{")
    }
    assert segments <= service.RESERVED_STORES | {"auth"}


@pytest.mark.parametrize("store", ["1abc", "a" * 65, "has.dot", "sp ace", "_x"])
def test_invalid_store_names_are_refused(platform: Platform, ann: dict[str, str], store: str) -> None:
    reply = platform.call("POST", f"/api/v1/{store}", {"a": 1}, ann)
    assert reply.status == 400 and "store name" in reply.body["message"]


def test_static_routes_of_other_apis_are_not_captured(platform: Platform, ann: dict[str, str]) -> None:
    # /api/v1/tags belongs to the repo-tags API: it answers in its own body, not the platform's.
    reply = platform.call("GET", "/api/v1/tags", headers=ann)
    assert "success" not in (reply.body or {})


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("[1,2]", 400),
        ('"text"', 400),
        ("{not json", 400),
        ('{"a":NaN}', 400),
        ('{"a":Infinity}', 400),
        ('{"s":"\\ud800"}', 400),
        ("[" * 100 + "]" * 100, 400),
        ('{"d":' + "[" * 70 + "]" * 70 + "}", 400),
        ("", 400),
    ],
)
def test_invalid_bodies_are_refused(platform: Platform, ann: dict[str, str], body: str, status: int) -> None:
    reply = platform.call("POST", "/api/v1/objects", body, {**ann, "Content-Type": "application/json"})
    assert reply.status == status, reply.text
    assert reply.body["success"] is False and reply.body["code"] == str(status)


def test_non_json_content_is_refused_with_415(platform: Platform, ann: dict[str, str]) -> None:
    reply = platform.call(
        "POST", "/api/v1/objects", "a=1", {**ann, "Content-Type": "application/x-www-form-urlencoded"}
    )
    assert reply.status == 415 and reply.body["code"] == "415"


def test_entities_too_large_for_dynamodb_are_refused_with_413(platform: Platform, ann: dict[str, str]) -> None:
    from chalicelib.entities.service import MAX_ENTITY_BYTES

    big = platform.call("POST", "/api/v1/objects", {"blob": "x" * (MAX_ENTITY_BYTES + 1)}, ann)
    assert big.status == 413 and big.body["code"] == "413" and big.body["tags"] == ["error_payload_too_large"]
    fits = platform.call("POST", "/api/v1/objects", {"blob": "x" * (MAX_ENTITY_BYTES - 400)}, ann)
    assert fits.status == 200
    grown = platform.call("PATCH", f"/api/v1/objects/{fits.body['_id']}", {"more": "y" * 1000}, ann)
    assert grown.status == 413
    over_request_limit = platform.call("POST", "/api/v1/objects", {"blob": "x" * (2 * 1024 * 1024)}, ann)
    assert over_request_limit.status == 413 and over_request_limit.body["code"] == "413"


def test_unsupported_methods_answer_405_in_the_platform_body(platform: Platform, ann: dict[str, str]) -> None:
    reply = platform.call("PUT", "/api/v1/objects/5f0000000000000000000000", {"a": 1}, ann)
    assert reply.status == 405 and reply.body["code"] == "405" and reply.body["success"] is False


def test_writes_queue_an_event_push_and_survive_when_lambda_refuses(
    platform: Platform, ann: dict[str, str], lambdas: RecordingLambda
) -> None:
    entity = platform.call("POST", "/api/v1/objects", {"name": "pump"}, ann).body
    platform.call("PATCH", f"/api/v1/objects/{entity['_id']}", {"name": "valve"}, ann)
    platform.call("DELETE", f"/api/v1/objects/{entity['_id']}", headers=ann)
    assert lambdas.names() == ["ws_push", "ws_push", "ws_push"]
    frames = [payload["frame"] for _, payload in lambdas.calls]
    assert [json.loads(f[2:])[0] for f in frames] == ["objects:created", "objects:updated", "objects:deleted"]
    assert json.loads(frames[1][2:])[1]["name"] == "valve"

    lambdas.fail = True
    assert platform.call("POST", "/api/v1/objects", {"name": "still saved"}, ann).status == 200


def test_time_filters_accept_milliseconds_and_iso_8601(platform: Platform, ann: dict[str, str]) -> None:
    entity = platform.call("POST", "/api/v1/objects", {"name": "pump"}, ann).body
    moment = datetime.fromtimestamp(entity["time"] / 1000, tz=UTC)
    minute = moment.strftime("%Y-%m-%dT%H:%M")
    cases = {
        f"from={entity['time']}": 1,
        f"from={entity['time'] + 1}": 0,
        f"to={entity['time']}": 1,
        f"to={entity['time'] - 1}": 0,
        f"begin={minute}": 1,
        f"from={minute}Z&to={quote(moment.isoformat())}": 1,
        f"end={minute}": 0,
        f"from={entity['time']}&to={entity['time'] - 5}": 0,
    }
    for query, expected in cases.items():
        reply = platform.call("GET", f"/api/v1/objects?{query}", headers=ann)
        assert reply.status == 200 and len(reply.body) == expected, query


@pytest.mark.parametrize(
    "query",
    [
        "offset=-1",
        "offset=x",
        "limit=0",
        "limit=10001",
        "meta=yes",
        "meta=true&offset=1",
        "meta=true&limit=5",
        "from=yesterday",
        "from=1&begin=2",
        "sortBy=name",
        "where.name=pump",
    ],
)
def test_invalid_list_parameters_are_refused(platform: Platform, ann: dict[str, str], query: str) -> None:
    reply = platform.call("GET", f"/api/v1/objects?{query}", headers=ann)
    assert reply.status == 400 and reply.body["tags"] == ["error_bad_request"], query


def test_lists_page_project_and_summarise(platform: Platform, ann: dict[str, str]) -> None:
    ids = [
        platform.call("POST", "/api/v1/objects", {"n": i, "name": f"o{i}", "x": i}, ann).body["_id"] for i in range(7)
    ]
    assert [e["_id"] for e in platform.call("GET", "/api/v1/objects", headers=ann).body] == ids
    page = platform.call("GET", "/api/v1/objects?offset=2&limit=3", headers=ann).body
    assert [e["n"] for e in page] == [2, 3, 4]
    assert platform.call("GET", "/api/v1/objects?offset=7", headers=ann).body == []
    assert platform.call("GET", "/api/v1/objects?offset=100", headers=ann).body == []
    only = platform.call("GET", "/api/v1/objects?limit=2&only=name,missing", headers=ann).body
    assert only == [{"_id": ids[0], "name": "o0"}, {"_id": ids[1], "name": "o1"}]
    meta = platform.call("GET", "/api/v1/objects?meta=true&only=n", headers=ann).body
    assert meta == {"count": 7, "first": {"_id": ids[0], "n": 0}, "last": {"_id": ids[6], "n": 6}}
    empty = platform.call("GET", "/api/v1/nothing?meta=true", headers=ann).body
    assert empty == {"count": 0, "first": None, "last": None}


def test_other_users_get_403_not_the_entity(platform: Platform, ann: dict[str, str]) -> None:
    platform.add_user("eve", "outsiders")
    eve = platform.sign_in("eve")
    entity = platform.call("POST", "/api/v1/objects", {"secret": "plans"}, ann).body
    reply = platform.call("GET", f"/api/v1/objects/{entity['_id']}", headers=eve)
    assert reply.status == 403 and reply.body == PLATFORM_403 and "plans" not in reply.text
    assert platform.call("GET", "/api/v1/objects", headers=eve).body == []
    assert platform.call("GET", "/api/v1/objects?meta=true", headers=eve).body["count"] == 0
