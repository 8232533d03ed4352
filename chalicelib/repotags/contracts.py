"""The repo tags API's contracts (giistr's): its bodies and answers as models, and one operation per route."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, Field

from chalicelib.contracts import Operation, Response, Security, parameter

TAG = {
    "name": "repotags",
    "description": "giistr's API: tags on GitHub repositories, for the user of the X-Github-Token.",
}
TOKEN: Security = [{"githubToken": []}]
TOKEN_OR_SECRET: Security = [{"githubToken": []}, {"secretKey": []}]

Seconds = Annotated[int, Field(description="Unix time, seconds")]
IdInput = Annotated[uuid.UUID, Field(description="The id of one of your objects")]
_GITHUB_REPO_ID = "GitHub's repository id; stored and returned as a string (1-100 printable characters)"


class RepoTagsError(BaseModel):
    status: Annotated[str, Field(examples=["404 Not Found"])]
    message: str


class RepoTagsUser(BaseModel):
    id: uuid.UUID
    created_at: Seconds
    updated_at: Seconds
    token_id: Annotated[uuid.UUID, Field(description="Id of the stored token record (never the token)")]
    github_user_id: str


class RepoTagsTag(BaseModel):
    id: uuid.UUID
    created_at: Seconds
    updated_at: Seconds
    user_id: uuid.UUID
    name: Annotated[str, Field(min_length=1, max_length=100)]


class RepoTagsTagInput(BaseModel):
    name: Annotated[str, Field(description="Trimmed; 1-100 characters; unique per user")]


class RepoTagsTagUpdate(BaseModel):
    id: IdInput
    name: Annotated[str | None, Field(description="New name, if any")] = None


class RepoTagsRepo(BaseModel):
    id: uuid.UUID
    created_at: Seconds
    updated_at: Seconds
    user_id: uuid.UUID
    github_repo_id: str


class RepoTagsRepoInput(BaseModel):
    github_repo_id: Annotated[str | int, Field(description=_GITHUB_REPO_ID)]


class RepoTagsRepoUpdate(BaseModel):
    id: IdInput
    github_repo_id: Annotated[str | int | None, Field(description=_GITHUB_REPO_ID)] = None


class RepoTagsAssoc(BaseModel):
    id: uuid.UUID
    repo_id: uuid.UUID
    tag_id: uuid.UUID


class RepoTagsAssocResult(BaseModel):
    assoc: RepoTagsAssoc
    repo: RepoTagsRepo
    tag: RepoTagsTag


_AUTH_ERRORS: dict[str, Response | tuple[str, Any]] = {
    "400": ("Missing, repeated or malformed X-Github-Token; invalid body", RepoTagsError),
    "401": ("GitHub rejected the token (or the secret key is wrong)", RepoTagsError),
    "502": ("GitHub answered GET /user unexpectedly", RepoTagsError),
    "503": ("GitHub unreachable or rate-limited (Retry-After), or the database unavailable", RepoTagsError),
}
_NOT_YOURS = "does not exist or is another user's"
_IDS = {name: parameter(name, "path", text) for name, text in (
    ("user_id", "User id (UUID)"), ("tag_id", "Tag id (UUID)"), ("repo_id", "Repo id (UUID)"),
    ("assoc_id", "Association id (UUID)"),
)}  # fmt: skip


def _op(
    method: str, path: str, summary: str, op_id: str, ok: tuple[str, Any], missing: str = "", **more: Any
) -> Operation:
    responses: dict[str, Response | tuple[str, Any]] = {"200": ok, **_AUTH_ERRORS}
    if missing:
        responses["404"] = (missing, RepoTagsError)
    ids = [_IDS[name] for name in _IDS if f"{{{name}}}" in path]
    security = TOKEN_OR_SECRET if path.startswith("/api/v1/user") else TOKEN
    return Operation(method, path, summary, op_id, "repotags", security, responses, path_parameters=ids, **more)


OPERATIONS = [
    _op("get", "/api/v1/user/{user_id}", "Retrieve a user: yourself, or anyone with the secret key", "getRepoTagsUser",
        ("The user", RepoTagsUser), f"The user {_NOT_YOURS} (and no secret key)"),
    _op("get", "/api/v1/users", "List users, oldest first: yourself, or every user with the secret key",
        "listRepoTagsUsers", ("The users", list[RepoTagsUser])),
    _op("post", "/api/v1/tag", "Create a tag (names are trimmed and unique per user, ignoring case)",
        "createRepoTagsTag", ("The created tag", RepoTagsTag), body=RepoTagsTagInput),
    _op("put", "/api/v1/tag", "Rename a tag", "updateRepoTagsTag", ("The updated tag", RepoTagsTag),
        f"The tag {_NOT_YOURS}", body=RepoTagsTagUpdate),
    _op("get", "/api/v1/tag/{tag_id}", "Retrieve a tag", "getRepoTagsTag", ("The tag", RepoTagsTag),
        f"The tag {_NOT_YOURS}"),
    _op("delete", "/api/v1/tag/{tag_id}", "Delete a tag and its associations", "deleteRepoTagsTag",
        ("The deleted tag", RepoTagsTag), f"The tag {_NOT_YOURS}"),
    _op("get", "/api/v1/tags", "List your tags, oldest first", "listRepoTagsTags", ("Every tag", list[RepoTagsTag])),
    _op("post", "/api/v1/repo", "Create a repo (one per GitHub repo id and user)", "createRepoTagsRepo",
        ("The created repo", RepoTagsRepo), body=RepoTagsRepoInput),
    _op("put", "/api/v1/repo", "Point a repo at another GitHub repo", "updateRepoTagsRepo",
        ("The updated repo", RepoTagsRepo), f"The repo {_NOT_YOURS}", body=RepoTagsRepoUpdate),
    _op("get", "/api/v1/repo/{repo_id}", "Retrieve a repo", "getRepoTagsRepo", ("The repo", RepoTagsRepo),
        f"The repo {_NOT_YOURS}"),
    _op("delete", "/api/v1/repo/{repo_id}", "Delete a repo and its associations", "deleteRepoTagsRepo",
        ("The deleted repo", RepoTagsRepo), f"The repo {_NOT_YOURS}"),
    _op("get", "/api/v1/repos", "List your repos, oldest first", "listRepoTagsRepos",
        ("Every repo", list[RepoTagsRepo])),
    _op("post", "/api/v1/tag/{tag_id}/repo/{repo_id}", "Put a tag on a repo (400 if it is already there)",
        "createRepoTagsAssoc", ("The association, its repo and its tag", RepoTagsAssocResult),
        f"The tag or repo {_NOT_YOURS}"),
    _op("delete", "/api/v1/repo-tag-assoc/{assoc_id}", "Take a tag off a repo", "deleteRepoTagsAssoc",
        ("The deleted association, its repo and its tag", RepoTagsAssocResult), f"The association {_NOT_YOURS}"),
    _op("get", "/api/v1/tags/repo/{repo_id}", "List the tags on a repo, oldest first", "listRepoTagsTagsOfRepo",
        ("Every tag on the repo", list[RepoTagsTag]), f"The repo {_NOT_YOURS}"),
    _op("get", "/api/v1/repos/tag/{tag_id}", "List the repos carrying a tag, oldest first", "listRepoTagsReposOfTag",
        ("Every repo with the tag", list[RepoTagsRepo]), f"The tag {_NOT_YOURS}"),
]  # fmt: skip
