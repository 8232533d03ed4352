"""What each service refuses in paths, queries and headers, in its own error body, before anything is read
or stored: ids are ASCII digits, bounded (``chalicelib.http.parse_id``), and path, query and header text
that is not valid Unicode is refused before any route reads it. Each case checks the status, the service's
documented error body and, where a record could be touched, that no table changed. JSON bodies are in
test_input_boundary.py; the fixtures are in this folder's conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.support.input_boundary import (
    OPERATOR,
    Reply,
    World,
    autotune_error,
    broker_message,
    giistr_error,
    pizzly_error,
    platform_error,
    send,
    stored,
)
from tests.support.pizzly import basic

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
    refused(send(world.client, "GET", path.format(text), headers))
    assert stored() == before


def test_an_id_in_another_script_does_not_read_the_record_with_that_number(world: World) -> None:
    group_id = int(world.group["id"])
    arabic_indic = str(group_id).translate(
        str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
    )
    assert send(world.client, "GET", f"/admin/autotune/groups/{group_id}", OPERATOR).status == 200
    assert send(world.client, "GET", f"/admin/autotune/groups/0{group_id}", OPERATOR).status == 200
    pizzly_error(send(world.client, "GET", f"/admin/autotune/groups/{arabic_indic}", OPERATOR), 404)
    user = send(world.client, "POST", "/admin/autotune/users", OPERATOR, '{"email": "bea@example.com"}').body
    member = f"/admin/autotune/groups/{group_id}/members/{{}}"
    before = stored()
    pizzly_error(send(world.client, "PUT", member.format("1" * 4301), OPERATOR, '{"role": "author"}'), 404)
    pizzly_error(send(world.client, "PUT", member.format("\u00b2"), OPERATOR, '{"role": "author"}'), 404)
    assert stored() == before
    assert send(world.client, "PUT", member.format(user["id"]), OPERATOR, '{"role": "author"}').status == 201


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

    refused(send(world.client, "GET", path.format(quote(text)), headers))


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
    assert "Unicode" in refused(send(world.client, "GET", path, headers))
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
    reply = send(world.client, "GET", path, headers)
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
