"""Publishing: every project, theme and blueprint route, called by a designer of another group.

Group vox (A) has an author's project and a designer's theme; group verge (B) the same. Verge's
designer, the strongest role short of superuser, gets 403 on vox's project and theme (reads included),
cannot use vox's theme for a new project or move his own project onto it, sees none of vox's items
in his lists, and cannot write blueprints (superusers only). Vox reads everything back unchanged,
published files included. The operator routes (``/admin/autotune…``) are in
``tests/functional/cross_cutting/test_cross_tenant_operator.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.publishing.conftest import (
    BLUEPRINT_FILES,
    Api,
    FakeLambda,
    bucket_keys,
    empty_publishing,
    make_repo,
)
from tests.support.cross_tenant import Case, Reply, Tenants, assert_table_covers, check_case, tenant_routes
from tests.support.repotags_api import chalice_client

NEW_PROJECT = {"title": "B's quiz", "blueprint": "{blueprint_slug}", "theme": "{theme_slug}"}


def group_item_cases(path: str, data: dict[str, Any], move: dict[str, Any]) -> list[Case]:
    """A's project or theme at ``path``: read, replaced, edited, moved onto B's own item, deleted; each 403."""
    return [
        Case("GET", path, 403),
        Case("PUT", path, 403, body={"title": "taken over"}),
        Case("PATCH", path, 403, body={"data": data}),
        Case("PATCH", path, 403, body=move, own=("id",)),
        Case("DELETE", path, 403),
    ]


TABLE = [
    Case("GET", "/projects", 200),
    Case("GET", "/projects", 200, query="?group={group_slug}"),
    Case("GET", "/projects", 200, query="?theme={theme_slug}&search=a%20project"),
    Case("POST", "/projects", 403, body=NEW_PROJECT),
    *group_item_cases("/projects/{id}", {"headline": "taken over"}, {"theme": "{theme_slug}"}),
    Case("GET", "/projects/{id}/build", 403),
    Case("GET", "/projects/{id}/build_and_publish", 403),
    Case("GET", "/projects/{id}/update_snapshot", 403),
    Case("GET", "/themes", 200),
    Case("GET", "/themes", 200, query="?group={group_slug}"),
    Case("POST", "/themes", 403, body={"title": "B's theme", "group": "{group_slug}"}),
    *group_item_cases("/themes/{id}", {"color": "#000"}, {"group": "{group_slug}"}),
    Case("GET", "/themes/{id}/reset", 403),
    Case("GET", "/blueprints", 200),
    Case("POST", "/blueprints", 403, body={"title": "B's blueprint", "repo_url": "https://example.com/b.git"}),
    Case("GET", "/blueprints/{id}", 200),
    Case("PUT", "/blueprints/{id}", 403, body={"title": "taken over"}),
    Case("PATCH", "/blueprints/{id}", 403, body={"mode": "retired"}),
    Case("DELETE", "/blueprints/{id}", 403),
    Case("GET", "/blueprints/{id}/update_repo", 403),
]


class PublishingTenants(Tenants):
    """Groups vox (A: author ann's project, designer dana's theme) and verge (B: the same, designer bob)."""

    def __init__(self, api: Api, repo: Path) -> None:
        super().__init__(api.client)
        self.api = api
        api.user("root", superuser=True)
        blueprint = api.ok("POST", "/blueprints", "root", {"title": "Quiz", "repo_url": str(repo)}, 201)
        for tenant, resources, group_name, designer, author in (
            ("a", self.a, "Vox", "dana", "ann"),
            ("b", self.b, "Verge", "bob", "bea"),
        ):
            group = api.group(group_name)
            api.user(designer, groups={group: "designer"})
            api.user(author, groups={group: "author"})
            theme = api.ok("POST", "/themes", designer, {"title": f"{tenant} theme", "group": group}, 201)
            project = {"title": f"{tenant} project", "blueprint": blueprint["slug"], "theme": theme["slug"]}
            project = api.ok("POST", "/projects", author, {**project, "data": {"headline": f"{tenant}-headline"}}, 201)
            resources.update(
                group_slug=group,
                theme_id=theme["id"],
                theme_slug=theme["slug"],
                project_id=project["id"],
                project_slug=project["slug"],
                blueprint_id=blueprint["id"],
                blueprint_slug=blueprint["slug"],
            )
        assert api.ok("GET", f"/projects/{self.a['project_id']}", "ann")["status"] == "built"

    def resources(self, tenant: str, path: str) -> dict[str, Any]:
        """``{id}`` is the project, theme or blueprint the path's first segment names."""
        values = super().resources(tenant, path)
        kind = path.split("/")[1].rstrip("s")
        if "{id}" in path:
            values["id"] = values[f"{kind}_id"]
        return values

    def headers(self, caller: str) -> dict[str, str]:
        user = {"a": "ann", "b": "bob"}[caller]
        return {"Authorization": f"API-KEY auth={self.api.keys[user]}"}

    def read_back(self, route: str) -> Any:
        a, api = self.a, self.api
        return {
            "project": api.ok("GET", f"/projects/{a['project_id']}", "ann"),
            "projects": api.ok("GET", "/projects", "dana"),
            "theme": api.ok("GET", f"/themes/{a['theme_id']}", "dana"),
            "themes": api.ok("GET", "/themes", "dana"),
            "blueprint": api.ok("GET", f"/blueprints/{a['blueprint_id']}", "root"),
            "files": bucket_keys(),
        }

    def private(self) -> Iterable[str]:
        return [
            self.a["theme_slug"],
            self.a["project_slug"],
            "a project",
            "a theme",
            "a-headline",
            self.api.keys["ann"],
            self.api.keys["dana"],
        ]

    def is_error(self, reply: Reply) -> bool:
        body = reply.body
        return isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], str)


@pytest.fixture(scope="module")
def tenants(publishing_aws: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PublishingTenants]:
    """One pair of groups for the whole table (building a project takes a second; no row may change them)."""
    from chalicelib import aws

    empty_publishing()
    aws.inject("lambda", FakeLambda())
    repo = tmp_path_factory.mktemp("blueprint") / "quiz"
    make_repo(repo, BLUEPRINT_FILES)
    try:
        with chalice_client() as client:
            yield PublishingTenants(Api(client), repo)
    finally:
        aws._injected.pop("lambda", None)


def test_every_publishing_route_has_a_cross_tenant_case() -> None:
    assert_table_covers(TABLE, tenant_routes("publishing"), __file__)


@pytest.mark.parametrize("case", TABLE, ids=[case.id for case in TABLE])
def test_a_designer_of_another_group_cannot_reach_group_a(tenants: PublishingTenants, case: Case) -> None:
    check_case(tenants, case)
