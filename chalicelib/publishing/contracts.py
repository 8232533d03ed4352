"""The publishing API's contracts (Autotune's) and its operators' routes: models, and one operation per route.

The request models also check the bodies: each field applies its rule from ``bodies.py``, which keeps
Autotune's message, code and trimming.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, Field

from chalicelib.contracts import ErrorBody, Omittable, Operation, Response, Security, parameter
from chalicelib.publishing import bodies
from chalicelib.publishing.bodies import Checked, rule

TAG = {
    "name": "publishing",
    "description": "Autotune's Web API: projects built from git blueprints and themes, published to S3; "
    "and the operators' routes for its users, keys, groups and roles.",
}
KEY: Security = [{"autotuneKey": []}]
SECRET: Security = [{"secretKey": []}]
Responses = dict[str, Response | tuple[str, Any]]
Moment = datetime | None
Reference = Annotated[int | str, Field(description="Numeric id or slug")]
Data = dict[str, Any]
Kind = Literal["graphic", "app"] | None
Role = Literal["author", "editor", "designer"]
Mode = Literal["testing", "ready", "retired"]
Opened = Literal["testing", "ready"]  # the statuses a body may give a loaded blueprint
# A body's fields: the type documents each one, the rule (chalicelib/publishing/bodies.py) checks it.
Title = Annotated[Omittable[str], rule(bodies.title)]
Slug = Annotated[Omittable[str], rule(bodies.slug)]
Body = Annotated[Omittable[Data], rule(bodies.data)]
ThumbUrl = Annotated[Omittable[str], rule(bodies.thumb_url)]
RepoUrl = Annotated[Omittable[str], rule(bodies.repo_url)]
Named = Annotated[Omittable[Reference], rule(bodies.as_given)]
ModeField = Annotated[Omittable[Mode], rule(bodies.choice("Mode", get_args(Mode)))]


class AutotuneError(BaseModel):
    error: str


class AutotuneOperatorError(ErrorBody):
    """The body of every error of the operators' routes under /admin/autotune."""


class AutotuneAccepted(BaseModel):
    status: Literal["accepted"]


# --- projects, blueprints, themes ---------------------------------------------------------------------


class AutotuneProjectSummary(BaseModel):
    status: Literal["new", "updating", "updated", "building", "built", "broken"]
    id: int
    slug: str
    title: str
    built: bool
    preview_url: str | None
    publish_url: str | None
    type: Kind
    screenshot_sm_url: str | None
    screenshot_md_url: str | None
    screenshot_lg_url: str | None
    screenshot_sm2x_url: str | None
    screenshot_md2x_url: str | None
    screenshot_lg2x_url: str | None
    blueprint_id: int
    blueprint_title: str | None
    blueprint_version: str | None
    theme: str | None
    group: str | None
    created_by: str | None
    user_id: int
    created_at: Moment
    updated_at: Moment
    published_at: Moment
    data_updated_at: Moment
    embed_html: str | None


class AutotuneProject(AutotuneProjectSummary):
    blueprint_config: Data | None
    slug_sans_theme: str
    data: Data
    error_message: str | None
    output: Annotated[Omittable[str | None], Field(description="Output of the last build (superusers only)")] = None


class AutotuneProjectInput(Checked):
    title: Annotated[str, rule(bodies.title)]
    blueprint: Annotated[Reference, rule(bodies.as_given)]
    theme: Annotated[Reference, rule(bodies.as_given)]
    slug: Slug = None
    data: Body = None


class AutotuneProjectUpdate(Checked):
    title: Title = None
    theme: Named = None
    slug: Slug = None
    data: Body = None


class AutotuneBlueprint(BaseModel):
    status: Literal["new", "updating", "testing", "ready", "broken"]
    id: int
    slug: str
    title: str
    repo_url: str
    thumb_url: str | None
    type: Kind
    mode: Mode
    config: Data | None
    version: str | None
    error_message: str | None
    output: Omittable[str | None] = None
    created_at: Moment
    updated_at: Moment


class AutotuneBlueprintInput(Checked):
    title: Annotated[str, rule(bodies.title)]
    repo_url: Annotated[str, rule(bodies.repo_url)]
    slug: Slug = None
    thumb_url: ThumbUrl = None
    mode: ModeField = None


class AutotuneBlueprintUpdate(Checked):
    title: Title = None
    repo_url: RepoUrl = None
    slug: Slug = None
    thumb_url: ThumbUrl = None
    mode: ModeField = None
    status: Annotated[Omittable[Opened], rule(bodies.choice("Status", get_args(Opened)))] = None


class AutotuneTheme(BaseModel):
    status: Literal["new", "updating", "ready", "broken"]
    id: int
    slug: str
    title: str
    group: str | None
    group_id: int
    data: Data
    created_at: Moment
    updated_at: Moment


class AutotuneThemeInput(Checked):
    title: Annotated[Title, Field(validate_default=True)] = None  # required when a theme is created
    slug: Slug = None
    group: Named = None
    data: Body = None


# --- operators: users, groups, members ----------------------------------------------------------------


class AutotuneUserInput(Checked):
    email: Annotated[str, Field(max_length=254, pattern=bodies.EMAIL), rule(bodies.email)]
    name: Annotated[Omittable[Annotated[str, Field(max_length=200)]], rule(bodies.name)] = None
    superuser: Annotated[Omittable[bool], rule(bodies.superuser)] = None


class AutotuneUserUpdate(Checked):
    name: Annotated[Omittable[str], rule(bodies.name)] = None
    superuser: Annotated[Omittable[bool], rule(bodies.superuser)] = None


class AutotuneUserGroup(BaseModel):
    group_id: int
    group: str | None
    role: str


class AutotuneUser(BaseModel):
    id: int
    email: str
    name: str
    superuser: bool
    groups: Omittable[list[AutotuneUserGroup]] = None
    created_at: Moment
    updated_at: Moment


class AutotuneUserWithKey(AutotuneUser):
    api_key: str
    rotated: Omittable[bool] = None
    message: Omittable[str] = None


class AutotuneGroupInput(Checked):
    name: Annotated[str, Field(max_length=200, pattern=r"\S"), rule(bodies.group_name)]
    slug: Annotated[Omittable[str], rule(bodies.group_slug)] = None


class AutotuneMembership(BaseModel):
    group_id: Omittable[int] = None
    group: Omittable[str] = None
    user_id: Omittable[int] = None
    email: Omittable[str | None] = None
    name: Omittable[str | None] = None
    role: Omittable[Role] = None


class AutotuneGroup(BaseModel):
    id: int
    slug: str
    name: str
    default: bool
    members: Omittable[list[AutotuneMembership]] = None
    created_at: Moment
    updated_at: Moment


class AutotuneRole(BaseModel):
    role: Role


# --- operations ---------------------------------------------------------------------------------------

_ID = parameter("id", "path", "Numeric id or slug")
_USER = parameter("user", "path", "Numeric user id or email")
_GROUP = parameter("group", "path", "Numeric group id or slug")
_ERRORS: Responses = {
    "400": ("Invalid request (messages joined by ', ')", AutotuneError),
    "401": ("Missing or invalid API key", AutotuneError),
    "403": ("The user's role does not allow this", AutotuneError),
    "404": ("Unknown id or slug", AutotuneError),
    "406": ("Accept does not allow application/json", AutotuneError),
}
_BODY_ERRORS: Responses = {**_ERRORS, "415": ("The body is not sent as application/json", AutotuneError)}
_BUSY: Responses = {"409": ("A job of this item is already queued or running", AutotuneError)}
_ADMIN_ERRORS: Responses = {
    "400": ("Invalid request", AutotuneOperatorError),
    "401": ("Missing or invalid secret key", AutotuneOperatorError),
    "404": ("Unknown user or group", AutotuneOperatorError),
}
_PAGING = [
    parameter("page", "query", "Page number (default 1)", Annotated[int, Field(ge=1)]),
    parameter("per_page", "query", "Items per page (1-100, default 15)", Annotated[int, Field(ge=1, le=100)]),
]
_LIST_HEADERS = {
    "X-Total": {"description": "Number of items matching the filters", "schema": {"type": "integer"}},
    "Link": {"description": "Links to the first, last, next and prev pages", "schema": {"type": "string"}},
}
_KIND = parameter("type", "query", "graphic or app", Literal["graphic", "app"])
_SEARCH = parameter("search", "query", "Part of the title")
_FILTERS = {
    "project": [
        parameter("theme", "query", "Theme slug"),
        parameter("blueprint", "query", "Blueprint slug"),
        parameter("pub_status", "query", "published or draft", Literal["published", "draft"]),
        parameter("search", "query", "Part of the title, the author's name or email"),
        parameter("group", "query", "Group slug"),
        parameter("status", "query", "Project status"),
        _KIND,
    ],
    "blueprint": [_KIND, parameter("status", "query", "Blueprint status"), _SEARCH],
    "theme": [parameter("status", "query", "Theme status"), parameter("group", "query", "Group slug"), _SEARCH],
}


def _op(method: str, path: str, summary: str, op_id: str, responses: Responses, **more: Any) -> Operation:
    security = SECRET if path.startswith("/admin/") else KEY
    ids = [p for p in (_ID, _GROUP, _USER) if f"{{{p['name']}}}" in path]
    return Operation(method, path, summary, op_id, "publishing", security, responses, path_parameters=ids, **more)


def _crud(kind: str, name: str, view: type[BaseModel], create: type[BaseModel], update: type[BaseModel],
          listed: Any) -> list[Operation]:  # fmt: skip
    plural, one = f"/{kind}s", f"/{kind}s/{{id}}"
    page = Response("One page, newest update first", listed, headers=_LIST_HEADERS)
    change: Responses = {"200": ("Updated", view), **_BODY_ERRORS, **(_BUSY if kind != "theme" else {})}
    in_use: Responses = {"409": ("The item is in use or changed meanwhile", AutotuneError)}
    return [
        _op("get", plural, f"List {kind}s", f"list{name}s", {"200": page, **_ERRORS},
            parameters=[*_FILTERS[kind], *_PAGING]),
        _op("post", plural, f"Create a {kind}", f"create{name}", {"201": ("Created", view), **_BODY_ERRORS},
            body=create),
        _op("get", one, f"Retrieve a {kind}", f"get{name}", {"200": (f"The {kind}", view), **_ERRORS}),
        _op("put", one, f"Update a {kind}", f"update{name}", change, body=update),
        _op("patch", one, f"Update a {kind}", f"patch{name}", change, body=update),
        _op("delete", one, f"Delete a {kind}", f"delete{name}", {"204": ("Deleted", None), **_ERRORS, **in_use}),
    ]  # fmt: skip


def _action(path: str, summary: str, op_id: str) -> Operation:
    return _op("get", path, summary, op_id, {"202": ("Accepted", AutotuneAccepted), **_ERRORS, **_BUSY})


_USERS, _GROUPS = "/admin/autotune/users", "/admin/autotune/groups"
_MEMBER = f"{_GROUPS}/{{group}}/members/{{user}}"

OPERATIONS = [
    *_crud("project", "Project", AutotuneProject, AutotuneProjectInput, AutotuneProjectUpdate,
           list[AutotuneProjectSummary]),
    _action("/projects/{id}/update_snapshot", "Upgrade to the blueprint's current version, then build",
            "upgradeProject"),
    _action("/projects/{id}/build", "Build a preview", "buildProject"),
    _action("/projects/{id}/build_and_publish", "Build and publish", "publishProject"),
    *_crud("blueprint", "Blueprint", AutotuneBlueprint, AutotuneBlueprintInput, AutotuneBlueprintUpdate,
           list[AutotuneBlueprint]),
    _action("/blueprints/{id}/update_repo", "Load the repository's latest commit", "updateBlueprintRepo"),
    *_crud("theme", "Theme", AutotuneTheme, AutotuneThemeInput, AutotuneThemeInput, list[AutotuneTheme]),
    _action("/themes/{id}/reset", "Restore the theme's data to what it was created with", "resetTheme"),
    _op("post", _USERS, "Create a user or superuser (the API key is shown once)", "createAutotuneUser",
        {"201": ("Created", AutotuneUserWithKey), "409": ("Email taken", AutotuneOperatorError), **_ADMIN_ERRORS},
        body=AutotuneUserInput),
    _op("get", f"{_USERS}/{{user}}", "Retrieve a user and their groups", "getAutotuneUser",
        {"200": ("The user", AutotuneUser), **_ADMIN_ERRORS}),
    _op("patch", f"{_USERS}/{{user}}", "Change a user's name or superuser flag", "updateAutotuneUser",
        {"200": ("The user", AutotuneUser), **_ADMIN_ERRORS}, body=AutotuneUserUpdate),
    _op("post", f"{_USERS}/{{user}}/api_key",
        "Issue a new API key (keys are stored as hashes and cannot be read back; the old key stops working)",
        "rotateAutotuneKey", {"200": ("The new key", AutotuneUserWithKey), **_ADMIN_ERRORS}),
    _op("get", _GROUPS, "List groups", "listAutotuneGroups", {"200": ("Every group", list[AutotuneGroup]),
                                                              **_ADMIN_ERRORS}),
    _op("post", _GROUPS, "Create a group", "createAutotuneGroup", {"201": ("Created", AutotuneGroup), **_ADMIN_ERRORS},
        body=AutotuneGroupInput),
    _op("get", f"{_GROUPS}/{{group}}", "Retrieve a group and its members", "getAutotuneGroup",
        {"200": ("The group", AutotuneGroup), **_ADMIN_ERRORS}),
    _op("put", _MEMBER, "Give a user a role in a group", "setAutotuneMember",
        {"200": ("Role changed", AutotuneMembership), "201": ("Member added", AutotuneMembership), **_ADMIN_ERRORS},
        body=AutotuneRole),
    _op("delete", _MEMBER, "Remove a user from a group", "removeAutotuneMember",
        {"204": ("Removed", None), **_ADMIN_ERRORS}),
]  # fmt: skip
