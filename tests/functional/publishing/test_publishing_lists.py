"""Project lists: paging with Link and X-Total, newest update first, filters, and clear errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.publishing.conftest import BLUEPRINT_FILES, Api, FakeLambda, empty_publishing, make_repo


def _links(header: str) -> dict[str, dict[str, str]]:
    """rel -> query parameters of each link."""
    found = {}
    for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', header):
        query = url.split("?", 1)[1]
        found[rel] = dict(pair.split("=", 1) for pair in query.split("&"))
    return found


@pytest.fixture(scope="module")
def listing(publishing_aws: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, list[int], str]]:
    """Forty projects by ann, newest last, made once for the module (the tests here only read them,
    except the last one); every fifth one built and published, the others queued; every fourth about elections."""
    from chalice.test import Client

    from app import app
    from chalicelib import aws

    empty_publishing()
    fake_lambda = FakeLambda()
    aws.inject("lambda", fake_lambda)
    path = tmp_path_factory.mktemp("lists") / "quiz"
    make_repo(path, BLUEPRINT_FILES)
    with Client(app) as client:
        api = Api(client)
        group = api.group("Vox")
        api.user("root", superuser=True)
        api.user("ann", groups={group: "author"})
        api.ok("POST", "/themes", "root", {"title": "Vox", "group": group, "data": {"color": "#fc0"}}, 201)
        api.ok("POST", "/blueprints", "root", {"title": "Quiz", "repo_url": str(path)}, 201)
        ids = []
        for n in range(40):
            title = f"Election {n}" if n % 4 == 0 else f"Story {n}"
            body = {"title": title, "blueprint": "quiz", "theme": "vox"}
            fake_lambda.hold = n % 5 != 0  # only the published ones are built: moto makes builds slow
            ids.append(api.ok("POST", "/projects", "ann", body, 201)["id"])
            if n % 5 == 0:
                api.ok("GET", f"/projects/{ids[-1]}/build_and_publish", "ann", status=202)
        yield api, ids, group
    aws._injected.pop("lambda", None)


@pytest.fixture
def aws_env(listing: tuple[Api, list[int], str]) -> None:
    """The module's projects stay between tests (overrides the emptying fixture)."""


def test_a_list_of_forty_is_paged_with_link_and_x_total(listing: tuple[Api, list[int], str]) -> None:
    api, forty, _ = listing
    first = api.call("GET", "/projects", "ann")
    assert first.status == 200 and first.headers["X-Total"] == "40"
    assert len(first.body) == 15  # per_page defaults to 15
    links = _links(first.headers["Link"])
    assert set(links) == {"first", "last", "next"}
    assert links["first"]["page"] == "1" and links["last"]["page"] == "3" and links["next"]["page"] == "2"
    assert links["next"]["per_page"] == "15"

    seen: list[dict[str, Any]] = []
    for page in (1, 2, 3):
        reply = api.call("GET", f"/projects?page={page}&per_page=15", "ann")
        assert reply.headers["X-Total"] == "40"
        seen += reply.body
    assert len(seen) == 40 and {p["id"] for p in seen} == set(forty)
    updated = [p["updated_at"] for p in seen]
    assert updated == sorted(updated, reverse=True)  # newest update first

    last = api.call("GET", "/projects?page=3&per_page=15&search=o", "ann")
    assert len(last.body) == 10
    links = _links(last.headers["Link"])
    assert set(links) == {"first", "last", "prev"} and links["prev"]["page"] == "2"
    assert links["prev"]["search"] == "o"  # filters carry over
    beyond = api.call("GET", "/projects?page=9", "ann")
    assert beyond.status == 200 and beyond.body == [] and beyond.headers["X-Total"] == "40"


def test_filters_narrow_the_list_and_its_total(listing: tuple[Api, list[int], str]) -> None:
    api, _, group = listing

    def total(query: str) -> int:
        reply = api.call("GET", f"/projects?{query}", "ann")
        assert reply.status == 200, reply
        return int(reply.headers["X-Total"])

    assert total("pub_status=published") == 8
    assert total("pub_status=draft") == 32
    assert total("search=ELECTION") == 10
    assert total("search=ann") == 40  # the author's name matches
    assert total("search=ann%40example.com") == 40
    assert total("search=election&pub_status=published") == 2  # 0 and 20
    assert total("theme=vox&blueprint=quiz&group=" + group) == 40
    assert total("status=built") == 8
    assert total("status=building") == 32
    assert total("status=broken") == 0
    assert total("type=graphic") == 40
    assert total("type=app") == 0
    page = api.ok("GET", "/projects?search=election&per_page=4&page=3", "ann")
    assert [p["title"] for p in page] == ["Election 4", "Election 0"]


def test_the_list_view_holds_the_documented_fields(listing: tuple[Api, list[int], str]) -> None:
    api = listing[0]
    summary = api.ok("GET", "/projects?per_page=1&pub_status=published", "ann")[0]
    single = api.ok("GET", f"/projects/{summary['id']}", "ann")
    documented = {
        "status", "id", "slug", "title", "built", "preview_url", "publish_url", "type",
        "screenshot_sm_url", "screenshot_lg_url", "screenshot_md_url",
        "screenshot_sm2x_url", "screenshot_lg2x_url", "screenshot_md2x_url",
        "blueprint_id", "blueprint_title", "blueprint_version", "theme", "created_by", "user_id",
        "created_at", "updated_at", "published_at", "data_updated_at", "embed_html",
    }  # fmt: skip
    assert documented <= set(summary)
    assert {k: single[k] for k in summary} == summary  # the list shows what the single view shows
    assert {"blueprint_config", "slug_sans_theme", "data", "error_message"} <= set(single) - set(summary)
    assert summary["blueprint_title"] == "Quiz" and summary["created_by"] == "Ann" and summary["theme"] == "vox"
    assert summary["embed_html"] and summary["published_at"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("theme=nope", "Theme 'nope' does not exist"),
        ("blueprint=nope&group=nope", "Group 'nope' does not exist, Blueprint 'nope' does not exist"),
        ("pub_status=live", "pub_status must be one of published, draft"),
        ("status=done&type=poster", "status must be one of new, updating, updated, building, built, broken, "
         "type must be one of graphic, app"),
        ("per_page=0", "Query parameter 'per_page' must be between 1 and 100."),
        ("page=x", "Query parameter 'page' must be an integer."),
    ],
)  # fmt: skip
def test_bad_filters_are_refused_clearly(listing: tuple[Api, list[int], str], query: str, message: str) -> None:
    reply = listing[0].call("GET", f"/projects?{query}", "ann")
    assert reply.status == 400
    assert reply.body == {"error": message}


def test_blueprint_and_theme_lists_filter_and_page(listing: tuple[Api, list[int], str]) -> None:
    api, _, group = listing
    for n in range(3):
        api.ok("POST", "/themes", "root", {"title": f"Extra {n}", "group": group}, 201)
    reply = api.call("GET", "/themes?per_page=2&search=extra", "root")
    assert reply.headers["X-Total"] == "3" and [t["slug"] for t in reply.body] == ["extra-2", "extra-1"]
    assert api.call("GET", "/themes?status=ready", "ann").headers["X-Total"] == "4"
    assert api.ok("GET", "/blueprints?type=graphic&status=ready&search=qui", "ann")[0]["slug"] == "quiz"
    assert api.ok("GET", "/blueprints?type=app", "ann") == []
    assert api.call("GET", "/themes?group=nope", "ann").body == {"error": "Group 'nope' does not exist"}


def test_an_update_moves_a_project_to_the_top(listing: tuple[Api, list[int], str]) -> None:
    api, forty, _ = listing
    api.ok("PATCH", f"/projects/{forty[5]}", "ann", {"title": "Touched"})
    assert api.ok("GET", "/projects?per_page=1", "ann")[0]["id"] == forty[5]
