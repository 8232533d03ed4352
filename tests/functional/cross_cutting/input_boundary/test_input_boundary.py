"""What each service refuses at its input boundary, in its own error body, before anything is stored.

Every JSON body of every service goes through one parser (``chalicelib.http.parse_json``) with one set
of limits: nesting at most 64 levels, number literals at most 1,000 characters, text that is valid
Unicode. Ids in paths and queries go through one strict ASCII parser (``chalicelib.http.parse_id``), and
path and query text that is not valid Unicode is refused before any route reads it. Each case below is
run on several services, and checks the status, the service's documented error body, and that no table
changed. The entity store's post-commit step (queueing the websocket event) is made to fail after the
write: the client still gets its success, and the entity is stored once. Ids and text in paths, queries
and headers are in test_input_boundary_paths.py; the fixtures are in this folder's conftest.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.entities_stack import RecordingLambda
from tests.support.input_boundary import (
    OPERATOR,
    Reply,
    World,
    autotune_error,
    broker_error,
    giistr_error,
    pizzly_error,
    platform_error,
    send,
    stored,
)

DEEP = "[" * 10_000 + "]" * 10_000
TOO_DEEP_IN_A_FIELD = '{"name": ' + "[" * 65 + "]" * 65 + "}"
LONE_HIGH = '{"name": "\\ud800"}'
LONE_LOW_KEY = '{"\\udc00": "x", "name": "x"}'
HUGE_INTEGER = '{"name": ' + "1" * 4301 + "}"
NAN = '{"name": NaN}'
BAD_BODIES = {
    "10,000 nested arrays": DEEP,
    "65 levels in a field": TOO_DEEP_IN_A_FIELD,
    "lone high surrogate": LONE_HIGH,
    "lone low surrogate in a key": LONE_LOW_KEY,
    "4,301-digit integer": HUGE_INTEGER,
    "NaN": NAN,
}


@dataclass(frozen=True)
class Route:
    """A JSON-body route and how its service answers malformed JSON."""

    name: str
    method: str
    path: Callable[[World], str]
    headers: Callable[[World], dict[str, str]]
    refused: Callable[[Reply], Any]


JSON_ROUTES = [
    Route(
        "integrations: create a configuration",
        "POST",
        lambda w: "/api/github/configurations",
        lambda w: OPERATOR,
        pizzly_error,
    ),
    Route(
        "integrations: update a configuration",
        "PUT",
        lambda w: f"/api/github/configurations/{w.configuration['id']}",
        lambda w: OPERATOR,
        pizzly_error,
    ),
    Route(
        "broker operators: create a customer", "POST", lambda w: "/admin/customers", lambda w: OPERATOR, pizzly_error
    ),
    Route(
        "broker operators: create an instance",
        "POST",
        lambda w: f"/admin/customers/{w.customer['id']}/instances",
        lambda w: OPERATOR,
        pizzly_error,
    ),
    Route(
        "broker customers: create a connection",
        "POST",
        lambda w: f"/v1/customers/{w.customer['id']}/connections",
        World.customer_key,
        broker_error,
    ),
    Route("repo tags: create a tag", "POST", lambda w: "/api/v1/tag", World.github, giistr_error),
    Route("publishing: create a theme", "POST", lambda w: "/themes", World.autotune, autotune_error),
    Route("publishing: create a blueprint", "POST", lambda w: "/blueprints", World.autotune, autotune_error),
    Route(
        "publishing operators: create a user",
        "POST",
        lambda w: "/admin/autotune/users",
        lambda w: OPERATOR,
        pizzly_error,
    ),
    Route("entity store: sign in", "POST", lambda w: "/api/v1/auth", lambda w: {}, platform_error),
    Route("entity store: create an entity", "POST", lambda w: "/api/v1/things", lambda w: w.platform, platform_error),
    Route(
        "entity store: change an entity",
        "PATCH",
        lambda w: f"/api/v1/things/{w.entity_id}",
        lambda w: w.platform,
        platform_error,
    ),
]


@pytest.mark.parametrize("body", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
@pytest.mark.parametrize("route", JSON_ROUTES, ids=[r.name for r in JSON_ROUTES])
def test_json_beyond_the_limits_is_refused_as_bad_json_and_nothing_is_stored(
    world: World, route: Route, body: str
) -> None:
    before = stored()
    reply = send(world.client, route.method, route.path(world), route.headers(world), body)
    route.refused(reply)
    assert stored() == before


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (DEEP, "nested at most 64 levels"),
        (LONE_HIGH, "valid Unicode"),
        (HUGE_INTEGER, "at most 1000 characters"),
        ('{"name": 1e400}', "range of a double"),
    ],
)
def test_the_refusal_says_which_limit(world: World, body: str, reason: str) -> None:
    integrations = pizzly_error(send(world.client, "POST", "/api/github/configurations", OPERATOR, body))
    publishing = autotune_error(send(world.client, "POST", "/themes", world.autotune(), body))
    repotags = giistr_error(send(world.client, "POST", "/api/v1/tag", world.github(), body))
    assert reason in integrations and reason in publishing and reason in repotags


def test_the_broker_reports_where_the_json_went_wrong_as_fastapi_does(world: World) -> None:
    path = f"/v1/customers/{world.customer['id']}/connections"
    deep = broker_error(send(world.client, "POST", path, world.customer_key(), DEEP))
    assert deep == [{"type": "json_invalid", "loc": ["body", 64], "msg": "JSON decode error"}]
    lone = broker_error(send(world.client, "POST", path, world.customer_key(), LONE_HIGH))
    assert lone == [{"type": "json_invalid", "loc": ["body", 10], "msg": "JSON decode error"}]
    huge = broker_error(send(world.client, "POST", path, world.customer_key(), HUGE_INTEGER))
    assert huge == [{"type": "json_invalid", "loc": ["body", 9], "msg": "JSON decode error"}]


def test_what_is_within_the_limits_is_accepted(world: World) -> None:
    deepest = "[" * 63 + "]" * 63  # inside the top-level object: 64 levels
    longest = "9" * 1000
    created = send(
        world.client,
        "POST",
        "/api/v1/things",
        world.platform,
        f'{{"deep": {deepest}, "big": {longest}, "smile": "\\ud83d\\ude00", "\\u00e9": "\\\\ud800"}}',
    )
    assert created.status == 200, created
    text = send(world.client, "GET", f"/api/v1/things/{created.body['_id']}", world.platform)
    assert text.body["big"] == int(longest) and text.body["smile"] == "\U0001f600" and text.body["é"] == "\\ud800"
    customer = send(world.client, "POST", "/admin/customers", OPERATOR, '{"name": "Smile \\ud83d\\ude00"}')
    assert customer.status == 201 and customer.body["name"] == "Smile \U0001f600"


def test_a_number_is_refused_by_the_field_not_the_parser_when_within_the_limits(world: World) -> None:
    path = f"/v1/customers/{world.customer['id']}/connections"
    body = '{"name": ' + "1" * 1000 + ', "provider": "deputy", "auth_type": "api_key", "credentials": {"api_key": "k"}}'
    (item,) = broker_error(send(world.client, "POST", path, world.customer_key(), body))
    assert item["type"] == "string_type" and item["loc"] == ["body", "name"]


# --- class 2: nothing after the commit turns a success into a failure -------------------------------------


class BrokenLambda:
    """Lambda failing in a way nobody planned for (not a botocore error): the event cannot be queued."""

    def __init__(self) -> None:
        self.calls = 0

    def invoke(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        raise RuntimeError("connection reset while queueing")


def test_an_entity_write_answers_its_success_when_the_event_cannot_be_queued(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    from chalicelib import aws

    broken = BrokenLambda()
    aws.inject("lambda", broken)
    caplog.set_level(logging.ERROR, logger="keyport")
    created = send(world.client, "POST", "/api/v1/events", world.platform, '{"name": "pump", "n": 1}')
    assert created.status == 200 and created.body["name"] == "pump", created
    entity_id = created.body["_id"]
    changed = send(world.client, "PATCH", f"/api/v1/events/{entity_id}", world.platform, '{"n": 2}')
    assert changed.status == 200 and changed.body["n"] == 2, changed

    listed = send(world.client, "GET", "/api/v1/events", world.platform)
    assert [(e["_id"], e["name"], e["n"]) for e in listed.body] == [(entity_id, "pump", 2)]  # stored once
    assert broken.calls == 2
    logged = [r.getMessage() for r in caplog.records if entity_id in r.getMessage()]
    assert len(logged) == 2 and all("could not be queued" in line for line in logged)

    removed = send(world.client, "DELETE", f"/api/v1/events/{entity_id}", world.platform)
    assert removed.status == 200 and removed.body["_id"] == entity_id
    assert send(world.client, "GET", "/api/v1/events", world.platform).body == []


def test_an_entity_stored_before_the_limits_still_reads_changes_and_notifies(
    world: World, lambdas: RecordingLambda
) -> None:
    from chalicelib.entities.models import Entity

    created = send(world.client, "POST", "/api/v1/legacy", world.platform, '{"name": "pump"}')
    huge = "1" * 4301  # what the store accepted before numbers were bounded
    entity = Entity.get(created.body["_id"], consistent_read=True)
    entity.doc = str(entity.doc)[:-1] + f',"huge":{huge}}}'
    entity.save()
    lambdas.calls.clear()

    path = f"/api/v1/legacy/{created.body['_id']}"
    read = world.client.http.get(path, headers=world.platform)
    assert read.status_code == 200 and f'"huge":{huge}' in read.body.decode()
    headers = {**world.platform, "Content-Type": "application/json"}
    changed = world.client.http.request("PATCH", path, headers=headers, body=b'{"name": "valve"}')
    assert changed.status_code == 200, changed.body[:300]
    assert '"name":"valve"' in changed.body.decode() and f'"huge":{huge}' in changed.body.decode()
    (push,) = [payload for name, payload in lambdas.calls if name == "ws_push"]
    assert push["frame"].startswith('42["legacy:updated",') and huge in push["frame"] and push["targets"]
