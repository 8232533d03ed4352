"""Who may do what: the role matrix of projects, themes and blueprints, and who sees which lists."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.publishing.conftest import Api

ACTORS = ("author", "editor", "designer", "superuser")


@pytest.fixture
def world(api: Api, newsroom: dict[str, Any]) -> dict[str, Any]:
    """Group vox (theme vox) and group verge (theme verge); each actor is in vox, 'outsider' writes in verge."""
    vox = newsroom["group"]
    verge = api.group("Verge")
    api.user("author", groups={vox: "author"})
    api.user("colleague", groups={vox: "author"})
    api.user("editor", groups={vox: "editor"})
    api.user("designer", groups={vox: "designer"})
    api.user("superuser", superuser=True)
    api.user("outsider", groups={verge: "author"})
    api.ok("POST", "/themes", "superuser", {"title": "Verge", "group": verge}, 201)
    return {"vox": vox, "verge": verge}


def _project(api: Api, owner: str, theme: str, title: str) -> int:
    return int(api.ok("POST", "/projects", owner, {"title": title, "blueprint": "quiz", "theme": theme}, 201)["id"])


def test_project_roles_follow_the_reference(api: Api, world: dict[str, Any]) -> None:
    expected = {
        # actor: (own, same group, other group) -> allowed?
        "author": (True, False, False),
        "editor": (True, True, False),
        "designer": (True, True, False),
        "superuser": (True, True, True),
    }
    found: dict[str, tuple[bool, bool, bool]] = {}
    for actor in ACTORS:
        outcomes = []
        for target, (owner, theme) in enumerate(((actor, "vox"), ("colleague", "vox"), ("outsider", "verge"))):
            project = _project(api, owner, theme, f"{actor} {target}")
            read = api.call("GET", f"/projects/{project}", actor).status
            update = api.call("PATCH", f"/projects/{project}", actor, {"title": f"{actor} {target} edited"}).status
            build = api.call("GET", f"/projects/{project}/build", actor).status
            delete = api.call("DELETE", f"/projects/{project}", actor).status
            allowed = (read, update, build, delete) == (200, 200, 202, 204)
            refused = (read, update, build, delete) == (403, 403, 403, 403)
            assert allowed or refused, (actor, target, read, update, build, delete)
            outcomes.append(allowed)
        found[actor] = (outcomes[0], outcomes[1], outcomes[2])
    assert found == expected


def test_a_projects_theme_must_belong_to_one_of_the_users_groups(api: Api, world: dict[str, Any]) -> None:
    refused = api.call("POST", "/projects", "author", {"title": "X", "blueprint": "quiz", "theme": "verge"})
    assert refused.status == 403
    assert refused.body == {"error": "You cannot use the theme 'verge': it belongs to a group you are not in."}
    project = _project(api, "colleague", "vox", "Moving")
    moved = api.call("PATCH", f"/projects/{project}", "editor", {"theme": "verge"})
    assert moved.status == 403
    moved = api.ok("PATCH", f"/projects/{project}", "superuser", {"theme": "verge"})
    assert moved["theme"] == "verge" and moved["group"] == world["verge"] and moved["slug"] == "verge-moving"
    assert api.call("GET", f"/projects/{project}", "editor").status == 403  # now in a group the editor is not in
    assert api.call("GET", f"/projects/{project}", "colleague").status == 200  # still the author's own


def test_theme_writes_are_for_designers_of_the_group_and_superusers(api: Api, world: dict[str, Any]) -> None:
    expected = {"author": False, "editor": False, "designer": True, "superuser": True}
    found = {}
    for actor in ACTORS:
        created = api.call("POST", "/themes", actor, {"title": f"{actor} theme", "group": world["vox"]})
        theme = (
            created.body["id"]
            if created.status == 201
            else api.ok("POST", "/themes", "superuser", {"title": f"{actor} theme", "group": world["vox"]}, 201)["id"]
        )
        read = api.call("GET", f"/themes/{theme}", actor).status
        update = api.call("PATCH", f"/themes/{theme}", actor, {"data": {"color": "red"}}).status
        reset = api.call("GET", f"/themes/{theme}/reset", actor).status
        delete = api.call("DELETE", f"/themes/{theme}", actor).status
        assert read == 200, actor  # every member of the group sees its themes
        outcomes = (created.status, update, reset, delete)
        assert outcomes in ((201, 200, 202, 204), (403, 403, 403, 403)), (actor, outcomes)
        found[actor] = outcomes[0] == 201
    assert found == expected
    assert api.call("GET", "/themes/verge", "designer").status == 403
    assert api.call("POST", "/themes", "designer", {"title": "Theirs", "group": world["verge"]}).status == 403


def test_blueprint_writes_are_for_superusers_only(api: Api, world: dict[str, Any]) -> None:
    repo = api.ok("GET", "/blueprints/quiz", "superuser")["repo_url"]
    for actor in ("author", "editor", "designer"):
        assert api.call("POST", "/blueprints", actor, {"title": "Mine", "repo_url": repo}).status == 403
        assert api.call("PATCH", "/blueprints/quiz", actor, {"title": "Mine"}).status == 403
        assert api.call("DELETE", "/blueprints/quiz", actor).status == 403
        assert api.call("GET", "/blueprints/quiz/update_repo", actor).status == 403
        assert api.call("GET", "/blueprints/quiz", actor).status == 200
    created = api.ok("POST", "/blueprints", "superuser", {"title": "Other", "repo_url": repo}, 201)
    assert api.ok("PATCH", f"/blueprints/{created['id']}", "superuser", {"title": "Renamed"})["title"] == "Renamed"
    assert api.call("DELETE", f"/blueprints/{created['id']}", "superuser").status == 204
    _project(api, "author", "vox", "Uses quiz")
    in_use = api.call("DELETE", "/blueprints/quiz", "superuser")
    assert in_use.status == 409 and "Projects use this blueprint" in in_use.body["error"]


def test_blueprints_in_testing_are_for_superusers(api: Api, world: dict[str, Any]) -> None:
    api.ok("PATCH", "/blueprints/quiz", "superuser", {"mode": "testing"})
    assert [b["slug"] for b in api.ok("GET", "/blueprints", "author")] == []
    assert [b["slug"] for b in api.ok("GET", "/blueprints", "superuser")] == ["quiz"]
    refused = api.call("POST", "/projects", "author", {"title": "X", "blueprint": "quiz", "theme": "vox"})
    assert (
        refused.status == 400 and refused.body["error"] == "Blueprint 'quiz' is in testing: only superusers can use it"
    )
    ready = api.ok("PUT", "/blueprints/quiz", "superuser", {"status": "ready"})
    assert ready["status"] == "ready" and ready["mode"] == "ready"
    assert [b["slug"] for b in api.ok("GET", "/blueprints", "author")] == ["quiz"]


def test_lists_show_each_role_what_it_may_see(api: Api, world: dict[str, Any]) -> None:
    own = _project(api, "author", "vox", "Own")
    colleague = _project(api, "colleague", "vox", "Colleague")
    outsider = _project(api, "outsider", "verge", "Outsider")
    editor_elsewhere = api.user("roaming", groups={world["vox"]: "editor", world["verge"]: "author"})
    assert editor_elsewhere
    roaming_verge = _project(api, "roaming", "verge", "Roaming verge")
    roaming_vox = _project(api, "roaming", "vox", "Roaming vox")

    def ids(actor: str, query: str = "") -> set[int]:
        reply = api.call("GET", f"/projects{query}", actor)
        assert reply.status == 200
        assert int(reply.headers["X-Total"]) == len(reply.body)
        return {p["id"] for p in reply.body}

    assert ids("author") == {own}
    assert ids("editor") == {own, colleague, roaming_vox}
    assert ids("roaming") == {own, colleague, roaming_vox, roaming_verge}  # its own verge project once, not twice
    assert ids("roaming", "?group=" + world["verge"]) == {roaming_verge}
    assert ids("outsider") == {outsider}
    assert ids("superuser") == {own, colleague, outsider, roaming_verge, roaming_vox}
    assert ids("superuser", "?theme=verge") == {outsider, roaming_verge}
    assert {t["slug"] for t in api.ok("GET", "/themes", "author")} == {"vox"}
    assert {t["slug"] for t in api.ok("GET", "/themes", "superuser")} == {"vox", "verge"}
    assert {t["slug"] for t in api.ok("GET", "/themes", "roaming")} == {"vox", "verge"}
