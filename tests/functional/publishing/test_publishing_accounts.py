"""Users, keys, groups and roles (operators' routes and command line), and how requests authenticate."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from tests.functional.publishing.conftest import Api


def test_an_operator_creates_a_superuser_whose_key_works_quoted_or_not(api: Api) -> None:
    created = api.admin(
        "POST", "/admin/autotune/users", {"email": "Bot@Example.com", "name": "autobot", "superuser": True}
    )
    assert created.status == 201
    body = created.body
    assert body["email"] == "bot@example.com" and body["superuser"] is True and body["groups"] == []
    assert re.fullmatch(r"[A-Za-z0-9]{40}", body["api_key"])
    for header in (f"API-KEY auth={body['api_key']}", f'API-KEY auth="{body["api_key"]}"'):
        reply = api.call("GET", "/projects", headers={"Authorization": header})
        assert reply.status == 200 and reply.body == []


def test_keys_are_stored_as_hashes_and_get_api_key_rotates(api: Api) -> None:
    from chalicelib.crypto import key_hash
    from chalicelib.publishing.models import Claim, User

    user_id = api.user("ann")
    old = api.keys["ann"]
    stored = User.get(user_id)
    assert stored.key_hash == key_hash(old)
    assert all(old not in str(item.attribute_values) for model in (User, Claim) for item in model.scan())

    rotated = api.admin("POST", f"/admin/autotune/users/{user_id}/api_key")
    assert rotated.status == 200
    assert rotated.body["rotated"] is True and "cannot be shown" in rotated.body["message"]
    assert api.call("GET", "/projects", old).status == 401
    assert api.call("GET", "/projects", rotated.body["api_key"]).status == 200
    by_email = api.admin("POST", "/admin/autotune/users/ann@example.com/api_key")
    assert by_email.body["id"] == user_id and api.call("GET", "/projects", rotated.body["api_key"]).status == 401


def test_operators_manage_groups_and_roles(api: Api) -> None:
    group = api.group("The Verge")
    assert group == "the-verge"
    assert api.group("The Verge") == "the-verge-1"  # slugs are unique per kind
    user_id = api.user("ann")
    added = api.admin("PUT", f"/admin/autotune/groups/{group}/members/ann@example.com", {"role": "editor"})
    assert added.status == 201 and added.body["role"] == "editor"
    changed = api.admin("PUT", f"/admin/autotune/groups/{group}/members/{user_id}", {"role": "designer"})
    assert changed.status == 200
    found = api.admin("GET", f"/admin/autotune/groups/{group}").body
    assert found["members"] == [{"user_id": user_id, "email": "ann@example.com", "name": "Ann", "role": "designer"}]
    user = api.admin("GET", "/admin/autotune/users/ann@example.com").body
    assert user["groups"] == [{"group_id": found["id"], "group": "the-verge", "role": "designer"}]
    assert [g["slug"] for g in api.admin("GET", "/admin/autotune/groups").body] == ["the-verge", "the-verge-1"]
    assert api.admin("PATCH", f"/admin/autotune/users/{user_id}", {"superuser": True}).body["superuser"] is True
    assert api.admin("DELETE", f"/admin/autotune/groups/{group}/members/{user_id}").status == 204
    assert api.admin("GET", f"/admin/autotune/users/{user_id}").body["groups"] == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("POST", "/admin/autotune/users", {"email": "nope"}, 400, "'email' must be an email address."),
        (
            "PUT",
            "/admin/autotune/groups/none/members/1",
            {"role": "author"},
            404,
            "No group has the id or slug 'none'.",
        ),
        (
            "GET",
            "/admin/autotune/users/ghost@example.com",
            None,
            404,
            "No user has the id or email 'ghost@example.com'.",
        ),
    ],
)
def test_operator_errors_use_the_operator_body(
    api: Api, method: str, path: str, body: Any, status: int, error: str
) -> None:
    reply = api.admin(method, path, body)
    assert reply.status == status
    assert reply.body["error"]["message"] == error and reply.body["error"]["type"]


@pytest.mark.parametrize("body", [{}, {"role": "owner"}, {"role": "Editor"}, {"role": None}, {"role": 1},
                                  {"role": ["author"]}, {"role": True}])  # fmt: skip
def test_a_member_role_is_one_of_three_and_an_unknown_group_is_reported_first(api: Api, body: Any) -> None:
    group = api.group("The Verge")
    api.user("ann")
    refused = api.admin("PUT", f"/admin/autotune/groups/{group}/members/ann@example.com", body)
    assert refused.status == 400
    assert refused.body["error"] == {
        "type": "invalid_role",
        "message": "'role' must be one of author, editor, designer.",
    }
    unknown = api.admin("PUT", "/admin/autotune/groups/none/members/ann@example.com", body)
    assert unknown.status == 404 and unknown.body["error"]["message"] == "No group has the id or slug 'none'."


def test_operator_routes_need_the_secret_key(api: Api) -> None:
    reply = api.call("POST", "/admin/autotune/users", body={"email": "a@example.com"})
    assert reply.status == 401 and reply.body["error"]["type"] == "missing_secret_key"
    assert api.admin("POST", "/admin/autotune/users", {"email": "a@example.com"}).status == 201
    duplicate = api.admin("POST", "/admin/autotune/users", {"email": "A@example.com"})
    assert duplicate.status == 409
    assert duplicate.body["error"]["message"] == "A user with the email 'a@example.com' already exists."


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 401, "An API key is required: send 'Authorization: API-KEY auth=YOUR_KEY'."),
        ({"Authorization": "Bearer abc"}, 401, "The Authorization header must read 'API-KEY auth=YOUR_KEY'."),
        ({"Authorization": "API-KEY auth=wrong"}, 401, "The API key is not valid."),
        ({"Accept": "text/html"}, 406, "This API answers JSON only: send 'Accept: application/json'."),
    ],
)
def test_requests_without_a_valid_key_or_accepting_no_json_are_refused(
    api: Api, headers: dict[str, str], status: int, error: str
) -> None:
    reply = api.call("GET", "/projects", headers=headers)
    assert reply.status == status
    assert reply.body == {"error": error}


def test_bodies_must_be_json(api: Api) -> None:
    api.user("root", superuser=True)
    key = {"Authorization": f"API-KEY auth={api.keys['root']}", "Accept": "application/json"}
    plain = api.client.http.post("/themes", headers={**key, "Content-Type": "text/plain"}, body=b'{"title": "x"}')
    assert plain.status_code == 415
    assert b"Content-Type: application/json" in plain.body
    missing = api.client.http.post("/themes", headers=key, body=b'{"title": "x"}')
    assert missing.status_code == 415
    empty = api.client.http.post("/themes", headers={**key, "Content-Type": "application/json"}, body=b"")
    assert empty.status_code == 400
    broken = api.client.http.post("/themes", headers={**key, "Content-Type": "application/json"}, body=b"{")
    assert broken.status_code == 400 and b"not valid JSON" in broken.body
    wildcard = api.client.http.get("/themes", headers={**key, "Accept": "text/html, application/*;q=0.5"})
    assert wildcard.status_code == 200


def test_validation_messages_are_joined_and_unknown_slugs_are_400(api: Api, newsroom: dict[str, Any]) -> None:
    blank = api.call("POST", "/projects", "ann", {"data": []})
    assert blank.status == 400
    assert blank.body == {
        "error": "Title can't be blank, Data must be an object, Blueprint can't be blank, Theme can't be blank"
    }
    unknown = api.call("POST", "/projects", "ann", {"title": "x", "blueprint": "nope", "theme": "gone"})
    assert unknown.body == {"error": "Blueprint 'nope' does not exist, Theme 'gone' does not exist"}
    assert api.call("GET", "/projects/404", "ann").body == {"error": "No project has the id or slug '404'."}
    assert api.call("GET", "/themes/nope", "ann").status == 404
    assert api.call("POST", "/themes", "root", {"title": "T", "group": "nope"}).body == {
        "error": "Group 'nope' does not exist"
    }
    bad_repo = api.call("POST", "/blueprints", "root", {"title": "B", "repo_url": "ftp://example.com/x.git"})
    assert bad_repo.status == 400 and "https://" in bad_repo.body["error"]


def test_slugs_are_made_unique_and_start_with_the_theme(api: Api, newsroom: dict[str, Any]) -> None:
    first = api.ok("POST", "/projects", "ann", {"title": "Élection Night!", "blueprint": "quiz", "theme": "vox"}, 201)
    second = api.ok("POST", "/projects", "ann", {"title": "Election night", "blueprint": "quiz", "theme": "vox"}, 201)
    third = api.ok(
        "POST",
        "/projects",
        "ann",
        {"title": "x", "slug": "vox-election-night", "blueprint": "quiz", "theme": "vox"},
        201,
    )
    assert [first["slug"], second["slug"], third["slug"]] == [
        "vox-election-night",
        "vox-election-night-1",
        "vox-election-night-2",
    ]
    assert second["slug_sans_theme"] == "election-night-1"
    numeric = api.ok("POST", "/themes", "root", {"title": "2024", "group": newsroom["group"]}, 201)
    assert numeric["slug"] == "theme-2024"  # an all-digit slug would read as an id
    assert (
        api.ok("GET", f"/projects/{first['id']}", "ann")["slug"]
        == api.ok("GET", f"/projects/{first['slug']}", "ann")["slug"]
    )


def test_a_theme_without_a_group_goes_to_the_default_group(api: Api, newsroom: dict[str, Any]) -> None:
    theme = api.ok("POST", "/themes", "root", {"title": "House style"}, 201)
    assert theme["group"] == "default" and theme["group_id"] == 0
    assert api.admin("GET", "/admin/autotune/groups/default").body["default"] is True
    assert api.call("GET", "/themes/house-style", "ann").status == 403  # superusers own the default group
    designed = api.ok("POST", "/themes", "dana", {"title": "Dana's"}, 201)
    assert designed["group"] == newsroom["group"]  # a designer's theme goes to their group
    reset = api.ok("PATCH", f"/themes/{designed['id']}", "dana", {"data": {"color": "blue"}})
    assert reset["data"] == {"color": "blue"}
    api.ok("GET", f"/themes/{designed['id']}/reset", "dana", status=202)
    assert api.ok("GET", f"/themes/{designed['id']}", "dana")["data"] == {}
    assert api.call("POST", "/themes", "ann", {"title": "Mine"}).status == 403


def test_the_command_line_creates_a_superuser_and_rotates_keys(api: Api) -> None:
    from chalicelib.publishing import cli

    out = io.StringIO()
    assert cli.main(["create_superuser", "autobot@example.com", "--name", "autobot_machine"], out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "Superuser with name 'autobot_machine' and email 'autobot@example.com':"
    assert re.fullmatch(r"User ID: \d+", lines[1])
    key = lines[2].removeprefix("API key: ")
    assert api.call("GET", "/projects", key).status == 200

    out = io.StringIO()
    assert cli.main(["get_api_key", "autobot@example.com"], out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "Account with name 'autobot_machine' and email 'autobot@example.com':"
    assert lines[3].startswith("Note: API keys are stored only as hashes")
    assert api.call("GET", "/projects", key).status == 401
    assert api.call("GET", "/projects", lines[2].removeprefix("API key: ")).status == 200

    assert cli.main(["create_superuser", "autobot@example.com"], io.StringIO()) == 1
    assert cli.main(["get_api_key", "ghost@example.com"], io.StringIO()) == 1
