"""The entity store's contracts (the platform API) and its operators' routes: models, and one operation per route."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from chalicelib.contracts import (
    CursorPage,
    ErrorBody,
    Omittable,
    Operation,
    Response,
    Security,
    cursor_paging,
    parameter,
    rule_broken,
)

TAG = {
    "name": "entities",
    "description": "The platform API: stores of entities with access lists, cookie and token auth "
    "(the socket.io websocket is at /socket.io/, see docs/entities.md).",
}
USER: Security = [{"sessionCookie": []}, {"bearerToken": []}]
SECRET: Security = [{"secretKey": []}]
Responses = dict[str, Response | tuple[str, Any]]
ObjectId = Annotated[str, Field(pattern="^[0-9a-f]{24}$")]
Ids = Annotated[list[ObjectId], Field(max_length=96)]
Millis = Annotated[int, Field(description="ms since 1970")]
PASSWORD_MIN, PASSWORD_MAX = 8, 1024
_Body = TypeVar("_Body", bound=BaseModel)


def _refused_as(code: str, message: str) -> WrapValidator:
    """A value the type refuses (null and a field left out included) answers ``code`` with ``message``."""

    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError(code, message) from None

    return WrapValidator(check)


# The operators' body rules; the paths' logins and group names follow the same patterns (LOGIN_PATTERN and
# GROUP_PATTERN in chalicelib/entities/accounts.py). pydantic's patterns end at the text's end, as \Z does.
Login = Annotated[
    str,
    Field(pattern="^[A-Za-z0-9._@+-]{1,128}$"),
    _refused_as("invalid_login", "'login' must be 1 to 128 letters, digits, '.', '_', '@', '+' or '-'."),
]
GroupName = Annotated[
    str,
    Field(pattern="^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
    _refused_as(
        "invalid_group", "A group name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."
    ),
]
Password = Annotated[
    str,
    Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX),
    _refused_as("invalid_password", f"'password' must be a string of {PASSWORD_MIN} to {PASSWORD_MAX} characters."),
]


class PlatformError(BaseModel):
    success: Literal[False]
    code: Annotated[str, Field(examples=["401"])]
    message: Annotated[str, Field(examples=["Unauthorized"])]
    tags: Annotated[list[str], Field(examples=[["error_unauthorized"]])]


class OperatorError(ErrorBody):
    """The body of every error of the operators' routes under /admin/platform."""


class PlatformOk(BaseModel):
    sucess: Annotated[Literal[True], Field(description="as documented")]
    success: Literal[True]


class PlatformCaller(PlatformOk):
    id: Annotated[ObjectId, Field(alias="_id")]
    login: str
    group: ObjectId


class PlatformToken(PlatformOk):
    type: Literal["access"]
    token: str
    issuedAt: Millis
    expiresAt: Millis


class PlatformDeleted(PlatformOk):
    id: Annotated[ObjectId, Field(alias="_id")]


class PlatformCredentials(BaseModel):
    login: str
    password: str


class PlatformTokenRequest(PlatformCredentials):
    expiresIn: Omittable[Annotated[int, Field(ge=60, le=2592000, description="seconds")]] = None


class EntityFields(BaseModel):
    """Any JSON fields (numbers kept exactly). On creation, access and branch may be given; _id, owner, group and
    time never; PATCH cannot change access or branch either."""

    model_config = ConfigDict(extra="allow")

    access: Omittable[Ids] = None
    branch: Omittable[Ids] = None


class Entity(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: Annotated[ObjectId, Field(alias="_id")]
    owner: ObjectId
    group: ObjectId
    access: Ids
    branch: Ids
    time: Annotated[int, Field(description="creation, ms since 1970")]


class EntityPart(BaseModel):
    """An entity as a list returns it: with ``only``, just the fields asked for (``_id`` always comes)."""

    model_config = ConfigDict(extra="allow")

    id: Annotated[ObjectId, Field(alias="_id")]
    owner: Omittable[ObjectId] = None
    group: Omittable[ObjectId] = None
    access: Omittable[Ids] = None
    branch: Omittable[Ids] = None
    time: Omittable[Annotated[int, Field(description="creation, ms since 1970")]] = None


class EntityListMeta(BaseModel):
    count: int
    first: EntityPart | None
    last: EntityPart | None


class PlatformGroup(BaseModel):
    object: Literal["platform_group"]
    id: Annotated[ObjectId, Field(alias="_id")]
    name: str
    created_at: datetime


class PlatformUserGroup(BaseModel):
    id: Annotated[Omittable[ObjectId], Field(alias="_id")] = None
    name: Omittable[str] = None


class PlatformUser(BaseModel):
    object: Literal["platform_user"]
    id: Annotated[ObjectId, Field(alias="_id")]
    login: str
    group: PlatformUserGroup
    created_at: datetime
    updated_at: datetime


class PlatformUserList(CursorPage[PlatformUser]):
    """A page of platform users by login."""


class PlatformGroupList(CursorPage[PlatformGroup]):
    """A page of groups by name."""


class PlatformMessage(BaseModel):
    message: str


class PlatformUserMessage(PlatformMessage):
    user: PlatformUser


class PlatformGroupMessage(PlatformMessage):
    group: PlatformGroup


class AdminBody(BaseModel):
    """An operator's body: unknown fields are refused first, all named; then each field's rule, in order."""

    model_config = ConfigDict(extra="forbid")  # what the document says; _known_fields answers first

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        allowed = sorted(cls.model_fields)
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            message = f"Unknown field(s): {', '.join(unknown)}; allowed: {', '.join(allowed)}."
            raise PydanticCustomError("bad_request", message)
        return cls._complete(data)

    @classmethod
    def _complete(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A field left out is checked as null, so its rule answers."""
        return {**dict.fromkeys(cls.model_fields), **data}


def checked(model: type[_Body], body: Any, *, before_values: Callable[[], object] | None = None) -> _Body:
    """``body`` as ``model``; the first rule it breaks answers 400 with its code and message. A rule of the
    body as a whole (unknown fields, none given) answers at once; ``before_values`` (a lookup whose 404 comes
    first) runs before a field's rule answers."""
    try:
        return model.model_validate(body)
    except ValidationError as e:
        if before_values is not None and e.errors(include_url=False)[0]["loc"]:
            before_values()
        raise rule_broken(e) from None


class PlatformUserInput(AdminBody):
    login: Login
    password: Password
    group: Annotated[GroupName, Field(description="group name")]


class PlatformUserUpdate(AdminBody):
    # A field left out stays as it is (model_fields_set names those given): its default is never validated
    # nor read, and a null sent is refused by the field's rule, so a value read is always a string.
    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["password"]}, {"required": ["group"]}]})

    password: Password = None  # type: ignore[assignment]
    group: GroupName = None  # type: ignore[assignment]

    @classmethod
    def _complete(cls, data: dict[str, Any]) -> dict[str, Any]:
        if not data:
            raise PydanticCustomError("bad_request", "Give 'password', 'group' or both.")
        return data


class PlatformGroupInput(AdminBody):
    name: GroupName


# --- operations ---------------------------------------------------------------------------------------

_STORE = parameter("store", "path", "Store name: 1-64 letters, digits, '_' or '-', starting with a letter")
_ID = parameter("entity_id", "path", "Entity id (ObjectId, 24 hexadecimal characters)")
_LOGIN = parameter("login", "path", "User login")
_GROUP = parameter("name", "path", "Group name")
_PAGING = cursor_paging()
Moment = Annotated[int, Field(description="ms since 1970")] | datetime
_LIST_PARAMS = [
    parameter("offset", "query", "Entities to skip (default 0)", Annotated[int, Field(ge=0)]),
    parameter("limit", "query", "At most this many (1-10000, default 10000)", Annotated[int, Field(ge=1, le=10000)]),
    parameter("only", "query", "Comma-separated fields to return (_id always comes)"),
    parameter("meta", "query", "true: the count, first and last entity instead (not with offset/limit)", bool),
    parameter("from", "query", "Created at or after (ms or ISO 8601)", Moment),
    parameter("to", "query", "Created at or before (ms or ISO 8601)", Moment),
    parameter("begin", "query", "Same as from", Moment),
    parameter("end", "query", "Same as to", Moment),
]
_TEXTS = {
    "400": "Invalid request (store name, id, body or parameters)",
    "401": "Not signed in, or wrong credentials",
    "403": "Not allowed on this entity",
    "404": "No such entity in this store",
    "409": "Concurrent change",
    "413": "Entity too large",
    "429": "Too many failed logins",
}
_ADMIN_TEXTS = {
    "400": "Invalid request",
    "401": "Missing or invalid secret key",
    "404": "No such user or group",
    "409": "Name taken, or group not empty",
}


def _op(method: str, path: str, summary: str, op_id: str, ok: Responses, errors: str, **more: Any) -> Operation:
    """An operation answering ``ok`` or one of the space-separated ``errors`` statuses, in its routes' error body."""
    admin = path.startswith("/admin/")
    texts, body = (_ADMIN_TEXTS, OperatorError) if admin else (_TEXTS, PlatformError)
    responses: Responses = {**ok, **{status: (texts[status], body) for status in errors.split()}}
    security = SECRET if admin else more.pop("security", USER)
    ids = [p for p in (_STORE, _ID, _LOGIN, _GROUP) if f"{{{p['name']}}}" in path]
    return Operation(method, path, summary, op_id, "entities", security, responses, path_parameters=ids, **more)


_ONE = "/api/v1/{store}/{entity_id}"
_USERS, _GROUPS = "/admin/platform/users", "/admin/platform/groups"
_LISTED = list[EntityPart] | EntityListMeta

OPERATIONS = [
    _op("post", "/api/v1/auth", "Sign in: a session cookie (sid)", "platformSignIn",
        {"200": ("Signed in; Set-Cookie: sid=...", PlatformOk)}, "400 401 429", security=[],
        body=PlatformCredentials),
    _op("get", "/api/v1/auth", "The signed-in user", "platformWhoAmI", {"200": ("The caller", PlatformCaller)}, "401"),
    _op("post", "/api/v1/auth/token", "Issue an access token (Authorization: Bearer)", "platformIssueToken",
        {"200": ("The token", PlatformToken)}, "400 401 429", security=[], body=PlatformTokenRequest),
    _op("post", "/api/v1/auth/logout", "End the session or token used", "platformSignOut",
        {"200": ("Signed out (the cookie is cleared)", PlatformOk)}, "401"),
    _op("get", "/api/v1/{store}", "List the entities you may read, oldest first", "listEntities",
        {"200": ("The entities (or, with meta=true, the count, first and last)", _LISTED)}, "400 401",
        parameters=_LIST_PARAMS),
    _op("post", "/api/v1/{store}", "Create an entity", "createEntity", {"200": ("The new entity", Entity)},
        "400 401 413", body=EntityFields),
    _op("get", _ONE, "Retrieve an entity", "getEntity", {"200": ("The entity", Entity)}, "400 401 403 404"),
    _op("patch", _ONE, "Change some fields of an entity", "patchEntity", {"200": ("The changed entity", Entity)},
        "400 401 403 404 409 413", body=EntityFields),
    _op("delete", _ONE, "Remove an entity", "deleteEntity", {"200": ("Removed", PlatformDeleted)},
        "400 401 403 404 409"),
    _op("post", _USERS, "Create a platform user (the group is created when new)", "adminCreatePlatformUser",
        {"201": ("Created", PlatformUserMessage)}, "400 401 409", body=PlatformUserInput),
    _op("get", _USERS, "List platform users by login", "adminListPlatformUsers",
        {"200": ("A page of users", PlatformUserList)}, "400 401 404",
        parameters=[parameter("group", "query", "Only the members of this group"), *_PAGING]),
    _op("get", f"{_USERS}/{{login}}", "Retrieve a platform user", "adminGetPlatformUser",
        {"200": ("The user", PlatformUser)}, "401 404"),
    _op("patch", f"{_USERS}/{{login}}", "Change a user's password (ending their sessions and tokens) or group",
        "adminUpdatePlatformUser", {"200": ("Updated", PlatformUserMessage)}, "400 401 404", body=PlatformUserUpdate),
    _op("delete", f"{_USERS}/{{login}}", "Remove a platform user (their sessions, tokens and sockets end)",
        "adminDeletePlatformUser", {"200": ("Removed", PlatformMessage)}, "401 404"),
    _op("post", _GROUPS, "Create a group", "adminCreatePlatformGroup", {"201": ("Created", PlatformGroupMessage)},
        "400 401 409", body=PlatformGroupInput),
    _op("get", _GROUPS, "List groups by name", "adminListPlatformGroups",
        {"200": ("A page of groups", PlatformGroupList)}, "400 401", parameters=_PAGING),
    _op("get", f"{_GROUPS}/{{name}}", "Retrieve a group", "adminGetPlatformGroup",
        {"200": ("The group", PlatformGroup)}, "401 404"),
    _op("delete", f"{_GROUPS}/{{name}}", "Remove an empty group", "adminDeletePlatformGroup",
        {"200": ("Removed", PlatformMessage)}, "401 404 409"),
]  # fmt: skip
