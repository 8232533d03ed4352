"""The repo tags API's contracts (giistr's): its bodies and answers as models, and one operation per route.

The request models are the bodies' rules: each field's rule gives the documented message of the first
thing wrong with it, and trims as the service always has (Python's ``str.strip``, not pydantic's, which
keeps U+001C-U+001F). :func:`read` answers the first rule a body breaks as 400 with that message.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from chalice.app import Request
from pydantic import BaseModel, Field, PlainValidator, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.contracts import Operation, Response, Security, parameter, rule_broken, validated
from chalicelib.http import json_object

TAG = {
    "name": "repotags",
    "description": "giistr's API: tags on GitHub repositories, for the user of the X-Github-Token.",
}
TOKEN: Security = [{"githubToken": []}]
TOKEN_OR_SECRET: Security = [{"githubToken": []}, {"secretKey": []}]

Seconds = Annotated[int, Field(description="Unix time, seconds")]
_GITHUB_REPO_ID = "GitHub's repository id; stored and returned as a string (1-100 printable characters)"
NAME_MAX = 100
GITHUB_REPO_ID_MAX = 100
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_Body = TypeVar("_Body", bound="RequestBody")


def _tag_name(value: Any) -> str:
    """A tag name: a string, trimmed and NFC-normalised, 1-100 characters, no control character or line break."""
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_tag_name", "'name' is required and must be a string.")
    name = unicodedata.normalize("NFC", value.strip())
    if not name:
        raise PydanticCustomError("invalid_tag_name", "'name' must not be empty.")
    if len(name) > NAME_MAX:
        raise PydanticCustomError("invalid_tag_name", f"'name' must be at most {NAME_MAX} characters long.")
    if any(unicodedata.category(c) in _FORBIDDEN_CATEGORIES for c in name):
        raise PydanticCustomError("invalid_tag_name", "'name' must not contain control characters or line breaks.")
    return name


def _github_repo_id(value: Any) -> str:
    """GitHub's repository id: a positive integer, or a trimmed string of 1-100 printable ASCII characters."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_github_repo_id", "'github_repo_id' is required and must be a string.")
    value = value.strip()
    if not value:
        raise PydanticCustomError("invalid_github_repo_id", "'github_repo_id' must not be empty.")
    if len(value) > GITHUB_REPO_ID_MAX or not all("!" <= c <= "~" for c in value):
        message = f"'github_repo_id' must be at most {GITHUB_REPO_ID_MAX} printable ASCII characters, without spaces."
        raise PydanticCustomError("invalid_github_repo_id", message)
    return value


def _body_id(value: Any) -> str:
    """The id of the object to change: any non-empty string (one that names none of yours answers 404)."""
    if not isinstance(value, str) or not value:
        raise PydanticCustomError("invalid_id", "'id' is required and must be a string.")
    return value


def _unless_null(rule: Callable[[Any], str]) -> Callable[[Any], str | None]:
    """``rule`` for a field that may be left out or null (the value then stays as it is)."""
    return lambda value: None if value is None else rule(value)


class RequestBody(BaseModel):
    """A body whose fields are each checked by one rule, in order; a field left out is checked as null."""

    @model_validator(mode="before")
    @classmethod
    def _absent_as_null(cls, data: Any) -> Any:
        return {**dict.fromkeys(cls.model_fields), **data} if isinstance(data, dict) else data


def read(model: type[_Body], request: Request) -> _Body:
    """The request's JSON object as ``model``; 400 with the message of the first rule it breaks."""
    return validated(model, json_object(request), rule_broken)


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
    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX)]


# Each rule is the field's whole validation; json_schema_input_type keeps what the document says the field takes.
TagName = Annotated[str, PlainValidator(_tag_name, json_schema_input_type=str)]
GithubRepoId = Annotated[str, PlainValidator(_github_repo_id, json_schema_input_type=str | int)]
BodyId = Annotated[str, PlainValidator(_body_id, json_schema_input_type=uuid.UUID)]
IdInput = Annotated[BodyId, Field(description="The id of one of your objects")]


class RepoTagsTagInput(RequestBody):
    name: Annotated[TagName, Field(description="Trimmed; 1-100 characters; unique per user")]


class RepoTagsTagUpdate(RequestBody):
    id: IdInput
    name: Annotated[
        str | None,
        PlainValidator(_unless_null(_tag_name), json_schema_input_type=str | None),
        Field(description="New name, if any"),
    ] = None


class RepoTagsRepo(BaseModel):
    id: uuid.UUID
    created_at: Seconds
    updated_at: Seconds
    user_id: uuid.UUID
    github_repo_id: str


class RepoTagsRepoInput(RequestBody):
    github_repo_id: Annotated[GithubRepoId, Field(description=_GITHUB_REPO_ID)]


class RepoTagsRepoUpdate(RequestBody):
    id: IdInput
    github_repo_id: Annotated[
        str | None,
        PlainValidator(_unless_null(_github_repo_id), json_schema_input_type=str | int | None),
        Field(description=_GITHUB_REPO_ID),
    ] = None


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
