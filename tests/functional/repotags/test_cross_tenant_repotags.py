"""Repo tags: every route, called with another GitHub user's token (and with that token sent as the operator's).

Alice (user A) has a tag on a repo; Bob (user B) has his own. Bob's token on Alice's tag, repo,
association or user answers 404 exactly as an unknown id does (``docs/repotags.md``, Ownership), mixing
his own tag or repo with Alice's too; his lists hold only his things; Alice's names and repository ids
stay free for him. A GitHub token sent as HTTP Basic (the operator's way) is refused (401), and no
token at all is 400. Alice reads everything back unchanged.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

import pytest

from tests.support.cross_tenant import Case, Reply, Tenants, assert_table_covers, check_case, tenant_routes
from tests.support.github_server import GithubStandIn

TOKENS = {"a": "ghp_aliceCrossTenant0000000000000000000001", "b": "ghp_bobCrossTenant00000000000000000000002"}
NO_TOKEN = {"status": "400 Bad Request", "message": "The X-Github-Token header is required: a GitHub token of yours."}

TABLE = [
    Case("GET", "/api/v1/user/{user_id}", 404),
    Case("GET", "/api/v1/user/{user_id}", 401, caller="b-basic"),
    Case("GET", "/api/v1/users", 200),
    Case("GET", "/api/v1/users", 401, caller="b-basic"),
    Case("GET", "/api/v1/users", 400, NO_TOKEN, caller="nobody"),
    Case("GET", "/api/v1/tag/{tag_id}", 404),
    Case("GET", "/api/v1/tags", 200),
    Case("POST", "/api/v1/tag", 200, body={"name": "{tag_name}"}),
    Case("PUT", "/api/v1/tag", 404, body={"id": "{tag_id}", "name": "taken over"}),
    Case("DELETE", "/api/v1/tag/{tag_id}", 404),
    Case("GET", "/api/v1/repo/{repo_id}", 404),
    Case("GET", "/api/v1/repos", 200),
    Case("POST", "/api/v1/repo", 200, body={"github_repo_id": "{github_repo_id}"}),
    Case("PUT", "/api/v1/repo", 404, body={"id": "{repo_id}", "github_repo_id": "99"}),
    Case("PUT", "/api/v1/repo", 200, body={"id": "{repo_id}", "github_repo_id": "{github_repo_id}"}, own=("repo_id",)),
    Case("DELETE", "/api/v1/repo/{repo_id}", 404),
    Case("POST", "/api/v1/tag/{tag_id}/repo/{repo_id}", 404),
    Case("POST", "/api/v1/tag/{tag_id}/repo/{repo_id}", 404, own=("tag_id",)),
    Case("POST", "/api/v1/tag/{tag_id}/repo/{repo_id}", 404, own=("repo_id",)),
    Case("DELETE", "/api/v1/repo-tag-assoc/{assoc_id}", 404),
    Case("GET", "/api/v1/tags/repo/{repo_id}", 404),
    Case("GET", "/api/v1/repos/tag/{tag_id}", 404),
]


class RepoTagsTenants(Tenants):
    """Alice and Bob, each with a tag on a repo."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        for tenant, resources in (("a", self.a), ("b", self.b)):
            (user,) = self.ok(tenant, "GET", "/api/v1/users")
            tag = self.ok(tenant, "POST", "/api/v1/tag", {"name": f"{tenant}-tag-name"})
            repo = self.ok(tenant, "POST", "/api/v1/repo", {"github_repo_id": f"{tenant}-github-repo-4242"})
            assoc = self.ok(tenant, "POST", f"/api/v1/tag/{tag['id']}/repo/{repo['id']}")["assoc"]
            resources.update(
                user_id=user["id"],
                token_id=user["token_id"],
                tag_id=tag["id"],
                tag_name=tag["name"],
                repo_id=repo["id"],
                github_repo_id=repo["github_repo_id"],
                assoc_id=assoc["id"],
            )

    def headers(self, caller: str) -> dict[str, str]:
        if caller == "nobody":
            return {}
        if caller == "b-basic":  # Bob's GitHub token where the operator's secret key goes
            return {"Authorization": "Basic " + base64.b64encode(f"{TOKENS['b']}:".encode()).decode()}
        return {"X-Github-Token": TOKENS[caller]}

    def read_back(self, route: str) -> Any:
        a = self.a
        paths = [
            "/api/v1/users",
            f"/api/v1/user/{a['user_id']}",
            "/api/v1/tags",
            f"/api/v1/tag/{a['tag_id']}",
            "/api/v1/repos",
            f"/api/v1/repo/{a['repo_id']}",
            f"/api/v1/tags/repo/{a['repo_id']}",
            f"/api/v1/repos/tag/{a['tag_id']}",
        ]
        return {path: self.ok("a", "GET", path) for path in paths}

    def private(self) -> Iterable[str]:
        return [*self.a.values(), TOKENS["a"]]

    def is_error(self, reply: Reply) -> bool:
        status, body = reply.status, reply.body
        return (
            isinstance(body, dict)
            and set(body) == {"status", "message"}
            and str(body["status"]).startswith(f"{status} ")
            and isinstance(body["message"], str)
        )


@pytest.fixture
def tenants(client: Any, github: GithubStandIn) -> RepoTagsTenants:
    github.accept(TOKENS["a"], 1)
    github.accept(TOKENS["b"], 2)
    return RepoTagsTenants(client)


def test_every_repo_tags_route_has_a_cross_tenant_case() -> None:
    assert_table_covers(TABLE, tenant_routes("repotags"), __file__)


@pytest.mark.parametrize("case", TABLE, ids=[case.id for case in TABLE])
def test_another_github_user_cannot_reach_user_a(tenants: RepoTagsTenants, case: Case) -> None:
    check_case(tenants, case)
