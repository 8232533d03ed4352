"""The repo tags service (giistr's API): its static segments under ``/api/v1`` win over the entity store."""

from chalicelib.services import Service

_SEGMENTS = ("user", "users", "tag", "tags", "repo", "repos", "repo-tag-assoc")

SERVICE = Service(
    name="repotags",
    prefixes=tuple(f"/api/v1/{s}" for s in _SEGMENTS),
    error_style="giistr",
    error_schema="RepoTagsError",
    creates=("/api/v1/tag", "/api/v1/repo"),
)
