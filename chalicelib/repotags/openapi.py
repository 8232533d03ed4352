"""OpenAPI paths and schemas of the repo tags API (giistr's)."""

from __future__ import annotations

from typing import Any

from chalicelib.openapi import operation, path_param, ref

TAG = {
    "name": "repotags",
    "description": "giistr's API: tags on GitHub repositories, for the user of the X-Github-Token.",
}
TOKEN: list[dict[str, list[str]]] = [{"githubToken": []}]
TOKEN_OR_SECRET: list[dict[str, list[str]]] = [{"githubToken": []}, {"secretKey": []}]
_T = "repotags"

_USER_ID = path_param("user_id", "User id (UUID)")
_TAG_ID = path_param("tag_id", "Tag id (UUID)")
_REPO_ID = path_param("repo_id", "Repo id (UUID)")
_ASSOC_ID = path_param("assoc_id", "Association id (UUID)")

_AUTH_ERRORS: dict[str, tuple[str, dict[str, Any] | None]] = {
    "400": ("Missing, repeated or malformed X-Github-Token; invalid body", ref("RepoTagsError")),
    "401": ("GitHub rejected the token (or the secret key is wrong)", ref("RepoTagsError")),
    "502": ("GitHub answered GET /user unexpectedly", ref("RepoTagsError")),
    "503": ("GitHub unreachable or rate-limited (Retry-After), or the database unavailable", ref("RepoTagsError")),
}


def _ok(text: str, schema: dict[str, Any], missing: str | None = None) -> dict[str, tuple[str, dict[str, Any] | None]]:
    responses: dict[str, tuple[str, dict[str, Any] | None]] = {"200": (text, schema), **_AUTH_ERRORS}
    if missing:
        responses["404"] = (missing, ref("RepoTagsError"))
    return responses


def _list(name: str) -> dict[str, Any]:
    return {"type": "array", "items": ref(name)}


_NOT_YOURS = "does not exist or is another user's"

PATHS: dict[str, Any] = {
    "/api/v1/user/{user_id}": {
        "parameters": [_USER_ID],
        "get": operation(
            "Retrieve a user: yourself, or anyone with the secret key",
            "getRepoTagsUser",
            _T,
            _ok("The user", ref("RepoTagsUser"), f"The user {_NOT_YOURS} (and no secret key)"),
            security=TOKEN_OR_SECRET,
        ),
    },
    "/api/v1/users": {
        "get": operation(
            "List users, oldest first: yourself, or every user with the secret key",
            "listRepoTagsUsers",
            _T,
            _ok("The users", _list("RepoTagsUser")),
            security=TOKEN_OR_SECRET,
        ),
    },
    "/api/v1/tag": {
        "post": operation(
            "Create a tag (names are trimmed and unique per user, ignoring case)",
            "createRepoTagsTag",
            _T,
            _ok("The created tag", ref("RepoTagsTag")),
            security=TOKEN,
            body=ref("RepoTagsTagInput"),
        ),
        "put": operation(
            "Rename a tag",
            "updateRepoTagsTag",
            _T,
            _ok("The updated tag", ref("RepoTagsTag"), f"The tag {_NOT_YOURS}"),
            security=TOKEN,
            body=ref("RepoTagsTagUpdate"),
        ),
    },
    "/api/v1/tag/{tag_id}": {
        "parameters": [_TAG_ID],
        "get": operation(
            "Retrieve a tag",
            "getRepoTagsTag",
            _T,
            _ok("The tag", ref("RepoTagsTag"), f"The tag {_NOT_YOURS}"),
            security=TOKEN,
        ),
        "delete": operation(
            "Delete a tag and its associations",
            "deleteRepoTagsTag",
            _T,
            _ok("The deleted tag", ref("RepoTagsTag"), f"The tag {_NOT_YOURS}"),
            security=TOKEN,
        ),
    },
    "/api/v1/tags": {
        "get": operation(
            "List your tags, oldest first",
            "listRepoTagsTags",
            _T,
            _ok("Every tag", _list("RepoTagsTag")),
            security=TOKEN,
        ),
    },
    "/api/v1/repo": {
        "post": operation(
            "Create a repo (one per GitHub repo id and user)",
            "createRepoTagsRepo",
            _T,
            _ok("The created repo", ref("RepoTagsRepo")),
            security=TOKEN,
            body=ref("RepoTagsRepoInput"),
        ),
        "put": operation(
            "Point a repo at another GitHub repo",
            "updateRepoTagsRepo",
            _T,
            _ok("The updated repo", ref("RepoTagsRepo"), f"The repo {_NOT_YOURS}"),
            security=TOKEN,
            body=ref("RepoTagsRepoUpdate"),
        ),
    },
    "/api/v1/repo/{repo_id}": {
        "parameters": [_REPO_ID],
        "get": operation(
            "Retrieve a repo",
            "getRepoTagsRepo",
            _T,
            _ok("The repo", ref("RepoTagsRepo"), f"The repo {_NOT_YOURS}"),
            security=TOKEN,
        ),
        "delete": operation(
            "Delete a repo and its associations",
            "deleteRepoTagsRepo",
            _T,
            _ok("The deleted repo", ref("RepoTagsRepo"), f"The repo {_NOT_YOURS}"),
            security=TOKEN,
        ),
    },
    "/api/v1/repos": {
        "get": operation(
            "List your repos, oldest first",
            "listRepoTagsRepos",
            _T,
            _ok("Every repo", _list("RepoTagsRepo")),
            security=TOKEN,
        ),
    },
    "/api/v1/tag/{tag_id}/repo/{repo_id}": {
        "parameters": [_TAG_ID, _REPO_ID],
        "post": operation(
            "Put a tag on a repo (400 if it is already there)",
            "createRepoTagsAssoc",
            _T,
            _ok("The association, its repo and its tag", ref("RepoTagsAssocResult"), f"The tag or repo {_NOT_YOURS}"),
            security=TOKEN,
        ),
    },
    "/api/v1/repo-tag-assoc/{assoc_id}": {
        "parameters": [_ASSOC_ID],
        "delete": operation(
            "Take a tag off a repo",
            "deleteRepoTagsAssoc",
            _T,
            _ok(
                "The deleted association, its repo and its tag",
                ref("RepoTagsAssocResult"),
                f"The association {_NOT_YOURS}",
            ),
            security=TOKEN,
        ),
    },
    "/api/v1/tags/repo/{repo_id}": {
        "parameters": [_REPO_ID],
        "get": operation(
            "List the tags on a repo, oldest first",
            "listRepoTagsTagsOfRepo",
            _T,
            _ok("Every tag on the repo", _list("RepoTagsTag"), f"The repo {_NOT_YOURS}"),
            security=TOKEN,
        ),
    },
    "/api/v1/repos/tag/{tag_id}": {
        "parameters": [_TAG_ID],
        "get": operation(
            "List the repos carrying a tag, oldest first",
            "listRepoTagsReposOfTag",
            _T,
            _ok("Every repo with the tag", _list("RepoTagsRepo"), f"The tag {_NOT_YOURS}"),
            security=TOKEN,
        ),
    },
}

_UUID = {"type": "string", "format": "uuid"}
_SECONDS = {"type": "integer", "description": "Unix time, seconds"}
_ID_INPUT = {"type": "string", "format": "uuid", "description": "The id of one of your objects"}
_GITHUB_REPO_ID = {
    "type": ["string", "integer"],
    "description": "GitHub's repository id; stored and returned as a string (1-100 printable characters)",
}

SCHEMAS: dict[str, Any] = {
    "RepoTagsError": {
        "type": "object",
        "required": ["status", "message"],
        "properties": {
            "status": {"type": "string", "examples": ["404 Not Found"]},
            "message": {"type": "string"},
        },
    },
    "RepoTagsUser": {
        "type": "object",
        "required": ["id", "created_at", "updated_at", "token_id", "github_user_id"],
        "properties": {
            "id": _UUID,
            "created_at": _SECONDS,
            "updated_at": _SECONDS,
            "token_id": {**_UUID, "description": "Id of the stored token record (never the token)"},
            "github_user_id": {"type": "string"},
        },
    },
    "RepoTagsTag": {
        "type": "object",
        "required": ["id", "created_at", "updated_at", "user_id", "name"],
        "properties": {
            "id": _UUID,
            "created_at": _SECONDS,
            "updated_at": _SECONDS,
            "user_id": _UUID,
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
        },
    },
    "RepoTagsTagInput": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "description": "Trimmed; 1-100 characters; unique per user"}},
    },
    "RepoTagsTagUpdate": {
        "type": "object",
        "required": ["id"],
        "properties": {"id": _ID_INPUT, "name": {"type": ["string", "null"], "description": "New name, if any"}},
    },
    "RepoTagsRepo": {
        "type": "object",
        "required": ["id", "created_at", "updated_at", "user_id", "github_repo_id"],
        "properties": {
            "id": _UUID,
            "created_at": _SECONDS,
            "updated_at": _SECONDS,
            "user_id": _UUID,
            "github_repo_id": {"type": "string"},
        },
    },
    "RepoTagsRepoInput": {
        "type": "object",
        "required": ["github_repo_id"],
        "properties": {"github_repo_id": _GITHUB_REPO_ID},
    },
    "RepoTagsRepoUpdate": {
        "type": "object",
        "required": ["id"],
        "properties": {"id": _ID_INPUT, "github_repo_id": {**_GITHUB_REPO_ID, "type": ["string", "integer", "null"]}},
    },
    "RepoTagsAssocResult": {
        "type": "object",
        "required": ["assoc", "repo", "tag"],
        "properties": {
            "assoc": {
                "type": "object",
                "required": ["id", "repo_id", "tag_id"],
                "properties": {"id": _UUID, "repo_id": _UUID, "tag_id": _UUID},
            },
            "repo": ref("RepoTagsRepo"),
            "tag": ref("RepoTagsTag"),
        },
    },
}
