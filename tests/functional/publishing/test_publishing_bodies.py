"""Publishing bodies: every broken rule named in Autotune's order, values trimmed, unknown ids answered first."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.publishing.conftest import Api


def test_a_blueprint_change_names_every_broken_rule_in_order(api: Api, newsroom: dict[str, Any]) -> None:
    body = {"status": "open", "mode": "draft", "thumb_url": "ftp://x", "slug": [], "repo_url": "ftp://x", "title": 5}
    reply = api.call("PATCH", f"/blueprints/{newsroom['blueprint']['slug']}", "root", body)
    assert reply.status == 400
    assert reply.body == {
        "error": "Title must be a string of at most 200 characters, "
        "Repo url must be an https:// git URL (or git@host:org/repo.git), "
        "Slug must be a string of at most 200 characters, Thumb url must be an http(s) URL, "
        "Mode must be one of testing, ready, retired, Status must be one of testing, ready"
    }


def test_theme_bodies_name_their_fields_problems_before_an_unknown_group(api: Api, newsroom: dict[str, Any]) -> None:
    created = api.call("POST", "/themes", "root", {"group": "nope", "data": "x", "slug": 7})
    assert created.body == {
        "error": "Title can't be blank, Slug must be a string of at most 200 characters, Data must be an object, "
        "Group 'nope' does not exist"
    }
    theme = newsroom["theme"]["slug"]
    changed = api.call("PUT", f"/themes/{theme}", "root", {"group": "nope", "data": [], "title": " "})
    assert changed.status == 400
    assert changed.body == {"error": "Data must be an object, Group 'nope' does not exist"}


@pytest.mark.parametrize(
    ("method", "path", "who"),
    [("PUT", "/projects/nope", "ann"), ("PATCH", "/blueprints/nope", "root"), ("PUT", "/themes/nope", "root")],
)
def test_an_unknown_id_answers_404_before_the_body_is_checked(
    api: Api, newsroom: dict[str, Any], method: str, path: str, who: str
) -> None:
    reply = api.call(method, path, who, {"title": 5, "data": [], "slug": []})
    assert reply.status == 404
    assert reply.body == {"error": f"No {path.split('/')[1][:-1]} has the id or slug 'nope'."}


def test_titles_are_trimmed_and_a_blank_title_leaves_a_theme_as_it_is(api: Api, newsroom: dict[str, Any]) -> None:
    theme = api.ok("POST", "/themes", "root", {"title": "  Desk  ", "group": newsroom["group"]}, 201)
    assert theme["title"] == "Desk"
    changed = api.ok("PATCH", f"/themes/{theme['slug']}", "root", {"title": ""})
    assert changed["title"] == "Desk"


def test_operator_bodies_are_trimmed_and_answer_their_first_broken_rule(api: Api) -> None:
    user = api.admin("POST", "/admin/autotune/users", {"email": "Bo@Example.COM", "name": "  Bo  "})
    assert (user.status, user.body["email"], user.body["name"]) == (201, "bo@example.com", "Bo")
    unnamed = api.admin("POST", "/admin/autotune/users", {"email": "cy@example.com", "name": "   "})
    assert unnamed.body["name"] == "cy" and unnamed.body["superuser"] is False
    renamed = api.admin("PATCH", f"/admin/autotune/users/{user.body['id']}", {"name": "  "})
    assert renamed.body["name"] == "bo"
    group = api.admin("POST", "/admin/autotune/groups", {"name": "  Night Desk "})
    assert (group.body["name"], group.body["slug"]) == ("Night Desk", "night-desk")
    refused = [
        ("POST", "/admin/autotune/users", {"superuser": "y", "name": 5, "email": "x"}, "invalid_email"),
        ("POST", "/admin/autotune/users", {"superuser": "y", "name": 5, "email": "dee@example.com"}, "invalid_name"),
        ("POST", "/admin/autotune/users", {"superuser": None, "email": "dee@example.com"}, "invalid_superuser"),
        ("PATCH", f"/admin/autotune/users/{user.body['id']}", {"superuser": 1, "name": []}, "invalid_name"),
        ("POST", "/admin/autotune/groups", {"slug": 5, "name": " "}, "invalid_name"),
        ("POST", "/admin/autotune/groups", {"slug": 5, "name": "Desk"}, "invalid_slug"),
    ]
    for method, path, body, code in refused:
        reply = api.admin(method, path, body)
        assert (reply.status, reply.body["error"]["type"]) == (400, code), (body, reply)
    ghost = api.admin("PATCH", "/admin/autotune/users/ghost@example.com", {"superuser": "y"})
    assert ghost.status == 404
