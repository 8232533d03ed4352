"""What each service refuses at its input boundary, in its own error body, before anything is stored.

Every JSON body of every service goes through one parser (``chalicelib.http.parse_json``) with one set
of limits: nesting at most 64 levels, number literals at most 1,000 characters, text that is valid
Unicode. Ids in paths and queries go through one strict ASCII parser (``chalicelib.http.parse_id``), and
path and query text that is not valid Unicode is refused before any route reads it. Each case below is
run on several services, and checks the status, the service's documented error body, and that no table
changed. The entity store's post-commit step (queueing the websocket event) is made to fail after the
write: the client still gets its success, and the entity is stored once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.support.broker_api import BrokerApi
from tests.support.entities_stack import Platform, RecordingLambda, RecordingManagement
from tests.support.github_server import github_stand_in
from tests.support.pizzly import PizzlyApi, basic

GITHUB_TOKEN = "gho_inputboundary0123456789"
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


# --- one AWS for the module, and what it holds --------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """The app over moto with every Keyport table, the key and the bucket (made once for this module), and a
    GitHub stand-in accepting :data:`GITHUB_TOKEN`."""
    from chalice.test import Client
    from moto import mock_aws

    from app import app
    from chalicelib import aws, catalog, crypto
    from chalicelib.settings import clear_settings, get_settings
    from infra.local.bootstrap import bootstrap

    with pytest.MonkeyPatch.context() as patch, github_stand_in() as github:
        github.accept(GITHUB_TOKEN, 4242)
        patch.setenv("GITHUB_API_URL", github.url)
        clear_settings()
        get_settings()  # read outside any request (the test client patches in the dev stage's variables)
        catalog.forget_custom()
        with mock_aws(), Client(app) as test_client:
            aws.reset()
            crypto.keyring.clear()
            bootstrap()
            try:
                yield test_client
            finally:
                aws.reset()
                crypto.keyring.clear()
                catalog.forget_custom()
        clear_settings()


@pytest.fixture(autouse=True)
def lambdas(client: Any) -> RecordingLambda:
    """Lambda and the websocket management API as recorders, new for each test (background work is queued)."""
    from chalicelib import aws

    recorder = RecordingLambda()
    aws.inject("lambda", recorder)
    aws.inject("apigatewaymanagementapi", RecordingManagement())
    return recorder


def stored() -> dict[str, list[str]]:
    """Every item of every table, as moto holds it (read from its store, not with Scan requests)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from chalicelib.settings import get_settings

    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID][get_settings().region].tables
    return {
        name: sorted(
            json.dumps(item.to_json()["Attributes"], sort_keys=True, default=repr) for item in table.all_items()
        )
        for name, table in tables.items()
    }


# --- the services, each with its own error body ---------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: Any


def _send(client: Any, method: str, path: str, headers: dict[str, str], body: str | None = None) -> Reply:
    data = body.encode() if body is not None else b""
    sent = {**headers, "Content-Type": "application/json"} if body is not None else headers
    response = client.http.request(method, path, headers=sent, body=data)
    return Reply(response.status_code, json.loads(response.body) if response.body else None)


def pizzly_error(reply: Reply, status: int = 400) -> str:
    """The message of an integrations/operators error body ``{"error": {"type", "message"}}``."""
    assert reply.status == status, reply
    assert set(reply.body) == {"error"} and set(reply.body["error"]) == {"type", "message"}, reply.body
    return str(reply.body["error"]["message"])


def broker_error(reply: Reply) -> list[dict[str, Any]]:
    """The items of the broker's FastAPI-shaped 422 ``{"detail": [{"type", "loc", "msg"}]}``."""
    assert reply.status == 422, reply
    assert set(reply.body) == {"detail"} and isinstance(reply.body["detail"], list), reply.body
    return list(reply.body["detail"])


def broker_message(reply: Reply, status: int) -> str:
    """The broker's other error body, ``{"detail": "..."}``."""
    assert reply.status == status, reply
    assert set(reply.body) == {"detail"} and isinstance(reply.body["detail"], str), reply.body
    return str(reply.body["detail"])


def giistr_error(reply: Reply, status: int = 400) -> str:
    """The repo tags error body ``{"status": "400 Bad Request", "message"}``."""
    assert reply.status == status, reply
    reason = {400: "Bad Request", 404: "Not Found"}[status]
    assert reply.body == {"status": f"{status} {reason}", "message": reply.body["message"]}, reply.body
    return str(reply.body["message"])


def autotune_error(reply: Reply, status: int = 400) -> str:
    """The publishing error body ``{"error": "message"}``."""
    assert reply.status == status, reply
    assert set(reply.body) == {"error"} and isinstance(reply.body["error"], str), reply.body
    return str(reply.body["error"])


def platform_error(reply: Reply, status: int = 400) -> str:
    """The entity store's error body ``{"success": false, "code", "message", "tags"}``."""
    assert reply.status == status, reply
    assert reply.body["success"] is False and reply.body["code"] == str(status), reply.body
    assert set(reply.body) == {"success", "code", "message", "tags"}, reply.body
    return str(reply.body["message"])


OPERATOR = {"Authorization": basic(TEST_SECRET_KEY)}


@dataclass
class World:
    """What the cases need: a customer of the broker, a publishing superuser, an entity-store user."""

    client: Any
    customer: dict[str, Any]
    configuration: dict[str, Any]
    autotune_key: str
    group: dict[str, Any]
    platform: dict[str, str]
    entity_id: str

    def autotune(self) -> dict[str, str]:
        return {"Authorization": f"API-KEY auth={self.autotune_key}", "Accept": "application/json"}

    def customer_key(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.customer['api_key']}"}

    def github(self) -> dict[str, str]:
        return {"X-Github-Token": GITHUB_TOKEN}


@pytest.fixture(scope="module")
def world(client: Any) -> World:
    """Made once for the module; its records stay, and every case checks that nothing changes around them."""
    from chalicelib import aws

    aws.inject("lambda", RecordingLambda())
    customer = BrokerApi(client).new_customer("Boundary Pty Ltd")
    configuration = PizzlyApi(client).configuration("github")
    root = _send(client, "POST", "/admin/autotune/users", OPERATOR, '{"email": "root@example.com", "superuser": true}')
    group = _send(client, "POST", "/admin/autotune/groups", OPERATOR, '{"name": "Newsroom"}')
    assert root.status == 201 and group.status == 201, (root, group)
    platform = Platform(client)
    platform.add_user("ann", "ops")
    signed_in = platform.sign_in("ann")
    entity = platform.call("POST", "/api/v1/things", {"name": "pump"}, signed_in)
    assert entity.status == 200, entity.text
    assert _send(client, "GET", "/api/v1/users", {"X-Github-Token": GITHUB_TOKEN}).status == 200  # registers
    return World(client, customer, configuration, root.body["api_key"], group.body, signed_in, entity.body["_id"])


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
    reply = _send(world.client, route.method, route.path(world), route.headers(world), body)
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
    integrations = pizzly_error(_send(world.client, "POST", "/api/github/configurations", OPERATOR, body))
    publishing = autotune_error(_send(world.client, "POST", "/themes", world.autotune(), body))
    repotags = giistr_error(_send(world.client, "POST", "/api/v1/tag", world.github(), body))
    assert reason in integrations and reason in publishing and reason in repotags


def test_the_broker_reports_where_the_json_went_wrong_as_fastapi_does(world: World) -> None:
    path = f"/v1/customers/{world.customer['id']}/connections"
    deep = broker_error(_send(world.client, "POST", path, world.customer_key(), DEEP))
    assert deep == [{"type": "json_invalid", "loc": ["body", 64], "msg": "JSON decode error"}]
    lone = broker_error(_send(world.client, "POST", path, world.customer_key(), LONE_HIGH))
    assert lone == [{"type": "json_invalid", "loc": ["body", 10], "msg": "JSON decode error"}]
    huge = broker_error(_send(world.client, "POST", path, world.customer_key(), HUGE_INTEGER))
    assert huge == [{"type": "json_invalid", "loc": ["body", 9], "msg": "JSON decode error"}]


def test_what_is_within_the_limits_is_accepted(world: World) -> None:
    deepest = "[" * 63 + "]" * 63  # inside the top-level object: 64 levels
    longest = "9" * 1000
    created = _send(
        world.client,
        "POST",
        "/api/v1/things",
        world.platform,
        f'{{"deep": {deepest}, "big": {longest}, "smile": "\\ud83d\\ude00", "\\u00e9": "\\\\ud800"}}',
    )
    assert created.status == 200, created
    text = _send(world.client, "GET", f"/api/v1/things/{created.body['_id']}", world.platform)
    assert text.body["big"] == int(longest) and text.body["smile"] == "\U0001f600" and text.body["é"] == "\\ud800"
    customer = _send(world.client, "POST", "/admin/customers", OPERATOR, '{"name": "Smile \\ud83d\\ude00"}')
    assert customer.status == 201 and customer.body["name"] == "Smile \U0001f600"


def test_a_number_is_refused_by_the_field_not_the_parser_when_within_the_limits(world: World) -> None:
    path = f"/v1/customers/{world.customer['id']}/connections"
    body = '{"name": ' + "1" * 1000 + ', "provider": "deputy", "auth_type": "api_key", "credentials": {"api_key": "k"}}'
    (item,) = broker_error(_send(world.client, "POST", path, world.customer_key(), body))
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
    created = _send(world.client, "POST", "/api/v1/events", world.platform, '{"name": "pump", "n": 1}')
    assert created.status == 200 and created.body["name"] == "pump", created
    entity_id = created.body["_id"]
    changed = _send(world.client, "PATCH", f"/api/v1/events/{entity_id}", world.platform, '{"n": 2}')
    assert changed.status == 200 and changed.body["n"] == 2, changed

    listed = _send(world.client, "GET", "/api/v1/events", world.platform)
    assert [(e["_id"], e["name"], e["n"]) for e in listed.body] == [(entity_id, "pump", 2)]  # stored once
    assert broken.calls == 2
    logged = [r.getMessage() for r in caplog.records if entity_id in r.getMessage()]
    assert len(logged) == 2 and all("could not be queued" in line for line in logged)

    removed = _send(world.client, "DELETE", f"/api/v1/events/{entity_id}", world.platform)
    assert removed.status == 200 and removed.body["_id"] == entity_id
    assert _send(world.client, "GET", "/api/v1/events", world.platform).body == []


def test_an_entity_stored_before_the_limits_still_reads_changes_and_notifies(
    world: World, lambdas: RecordingLambda
) -> None:
    from chalicelib.entities.models import Entity

    created = _send(world.client, "POST", "/api/v1/legacy", world.platform, '{"name": "pump"}')
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


# --- class 5: ids are ASCII digits, bounded --------------------------------------------------------------

NOT_IDS = {
    "superscript two": "\u00b2",
    "Arabic-Indic twelve": "\u0661\u0662",
    "4,301 digits": "1" * 4301,
    "beyond 2**63-1": "9" * 19,
    "negative": "-1",
}


@pytest.mark.parametrize("text", list(NOT_IDS.values()), ids=list(NOT_IDS))
@pytest.mark.parametrize(
    ("path", "who", "refused"),
    [
        ("/admin/autotune/users/{}", "operator", lambda r: pizzly_error(r, 404)),
        ("/admin/autotune/groups/{}", "operator", lambda r: pizzly_error(r, 404)),
        ("/projects/{}", "autotune", lambda r: autotune_error(r, 404)),
        ("/themes/{}", "autotune", lambda r: autotune_error(r, 404)),
        ("/blueprints/{}", "autotune", lambda r: autotune_error(r, 404)),
        ("/themes?group={}", "autotune", lambda r: autotune_error(r, 400)),
        ("/projects?group={}", "autotune", lambda r: autotune_error(r, 400)),
    ],
    ids=["users", "groups", "projects", "themes", "blueprints", "themes?group=", "projects?group="],
)
def test_a_path_or_query_that_is_not_an_id_finds_nothing(
    world: World, path: str, who: str, refused: Callable[[Reply], str], text: str
) -> None:
    headers = OPERATOR if who == "operator" else world.autotune()
    before = stored()
    refused(_send(world.client, "GET", path.format(text), headers))
    assert stored() == before


def test_an_id_in_another_script_does_not_read_the_record_with_that_number(world: World) -> None:
    group_id = int(world.group["id"])
    arabic_indic = str(group_id).translate(
        str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
    )
    assert _send(world.client, "GET", f"/admin/autotune/groups/{group_id}", OPERATOR).status == 200
    assert _send(world.client, "GET", f"/admin/autotune/groups/0{group_id}", OPERATOR).status == 200
    pizzly_error(_send(world.client, "GET", f"/admin/autotune/groups/{arabic_indic}", OPERATOR), 404)
    user = _send(world.client, "POST", "/admin/autotune/users", OPERATOR, '{"email": "bea@example.com"}').body
    member = f"/admin/autotune/groups/{group_id}/members/{{}}"
    before = stored()
    pizzly_error(_send(world.client, "PUT", member.format("1" * 4301), OPERATOR, '{"role": "author"}'), 404)
    pizzly_error(_send(world.client, "PUT", member.format("\u00b2"), OPERATOR, '{"role": "author"}'), 404)
    assert stored() == before
    assert _send(world.client, "PUT", member.format(user["id"]), OPERATOR, '{"role": "author"}').status == 201


@pytest.mark.parametrize(
    ("path", "who", "refused"),
    [
        ("/admin/customers?limit={}", "operator", pizzly_error),
        ("/api/github/authentications?setup_id=x&limit={}", "operator", pizzly_error),
        ("/admin/platform/users?limit={}", "operator", pizzly_error),
        ("/themes?per_page={}", "autotune", autotune_error),
        ("/api/v1/things?limit={}", "platform", platform_error),
        ("/api/v1/things?offset={}", "platform", platform_error),
    ],
)
@pytest.mark.parametrize(
    "text", ["\u0661\u0660", "\u00b2", "1" * 4301, "1_0", " 10"], ids=["arabic", "sup", "huge", "underscore", "space"]
)
def test_integer_query_parameters_are_ascii_digits(
    world: World, path: str, who: str, refused: Callable[[Reply], str], text: str
) -> None:
    headers = {"operator": OPERATOR, "autotune": world.autotune(), "platform": world.platform}[who]
    from urllib.parse import quote

    refused(_send(world.client, "GET", path.format(quote(text)), headers))


# --- class 4 in paths and queries: text that is not Unicode --------------------------------------------

LONE = "\ud800"


@pytest.mark.parametrize(
    ("path", "who", "refused"),
    [
        (f"/admin/autotune/users/{LONE}", "operator", pizzly_error),
        (f"/admin/platform/users?group={LONE}", "operator", pizzly_error),
        (f"/api/github/configurations/{LONE}", "operator", pizzly_error),
        (f"/themes?search={LONE}", "autotune", autotune_error),
        (f"/blueprints/{LONE}", "autotune", autotune_error),
        (f"/api/v1/tag/{LONE}", "github", giistr_error),
        (f"/api/v1/things?only={LONE}", "platform", platform_error),
        (f"/api/v1/things/{LONE}", "platform", platform_error),
        (f"/v1/customers/{LONE}/connections", "customer", lambda r: broker_message(r, 400)),
    ],
)
def test_path_and_query_text_that_is_not_unicode_is_refused(
    world: World, path: str, who: str, refused: Callable[[Reply], str]
) -> None:
    headers = {
        "operator": OPERATOR,
        "autotune": world.autotune(),
        "github": world.github(),
        "platform": world.platform,
        "customer": world.customer_key(),
    }[who]
    before = stored()
    assert "Unicode" in refused(_send(world.client, "GET", path, headers))
    assert stored() == before


@pytest.mark.parametrize(
    ("path", "headers", "refused"),
    [
        ("/themes", {"Authorization": f"API-KEY auth=k{LONE}", "Accept": "application/json"}, autotune_error),
        ("/api/v1/things", {"Cookie": f"sid=s{LONE}"}, platform_error),
        ("/v1/customers/00000000-0000-4000-8000-000000000000/connections", {"X-Api-Key": LONE}, None),
        ("/api/github/configurations", {"Authorization": basic(TEST_SECRET_KEY), "X-Note": LONE}, pizzly_error),
    ],
    ids=["publishing key", "entity store cookie", "broker key", "any header"],
)
def test_header_text_that_is_not_unicode_is_refused(
    world: World, path: str, headers: dict[str, str], refused: Callable[[Reply], str] | None
) -> None:
    reply = _send(world.client, "GET", path, headers)
    message = refused(reply) if refused is not None else broker_message(reply, 400)
    assert "Unicode" in message


def test_a_websocket_token_that_is_not_unicode_is_refused_with_401(world: World) -> None:
    from app import app

    context = {
        "routeKey": "$connect",
        "eventType": "CONNECT",
        "connectionId": "conn-boundary-0=",
        "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
        "stage": "api",
        "apiId": "abc123",
        "requestId": "r",
    }
    event = {
        "requestContext": context,
        "headers": {},
        "queryStringParameters": {"EIO": "3", "transport": "websocket", "token": f"t{LONE}"},
        "isBase64Encoded": False,
    }
    before = stored()
    assert app.handler_map["ws_connect"](event, None) == {"statusCode": 401}
    assert stored() == before
