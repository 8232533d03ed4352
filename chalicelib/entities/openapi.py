"""OpenAPI paths and schemas of the entity store (the platform API) and its operator routes."""

from __future__ import annotations

from typing import Any

from chalicelib.openapi import operation, path_param, query_param, ref

TAG = {
    "name": "entities",
    "description": "The platform API: stores of entities with access lists, cookie and token auth "
    "(the socket.io websocket is at /socket.io/, see docs/entities.md).",
}
_T = "entities"
USER: list[dict[str, list[str]]] = [{"sessionCookie": []}, {"bearerToken": []}]
SECRET: list[dict[str, list[str]]] = [{"secretKey": []}]
NONE: list[dict[str, list[str]]] = []

Responses = dict[str, tuple[str, dict[str, Any] | None]]

_STORE = path_param("store", "Store name: 1-64 letters, digits, '_' or '-', starting with a letter")
_ID = path_param("entity_id", "Entity id (ObjectId, 24 hexadecimal characters)")
_LOGIN = path_param("login", "User login")
_GROUP = path_param("name", "Group name")
_PAGING = [
    query_param("limit", "Page size (1-100, default 25)", {"type": "integer", "minimum": 1, "maximum": 100}),
    query_param("cursor", "next_cursor of the previous page"),
]
_MOMENT = {"oneOf": [{"type": "integer", "description": "ms since 1970"}, {"type": "string", "format": "date-time"}]}
_LIST_PARAMS = [
    query_param("offset", "Entities to skip (default 0)", {"type": "integer", "minimum": 0}),
    query_param(
        "limit", "At most this many (1-10000, default 10000)", {"type": "integer", "minimum": 1, "maximum": 10000}
    ),
    query_param("only", "Comma-separated fields to return (_id always comes)"),
    query_param("meta", "true: the count, first and last entity instead (not with offset/limit)", {"type": "boolean"}),
    query_param("from", "Created at or after (ms or ISO 8601)", _MOMENT),
    query_param("to", "Created at or before (ms or ISO 8601)", _MOMENT),
    query_param("begin", "Same as from", _MOMENT),
    query_param("end", "Same as to", _MOMENT),
]


def _errors(*statuses: str) -> Responses:
    texts = {
        "400": "Invalid request (store name, id, body or parameters)",
        "401": "Not signed in, or wrong credentials",
        "403": "Not allowed on this entity",
        "404": "No such entity in this store",
        "409": "Concurrent change",
        "413": "Entity too large",
        "429": "Too many failed logins",
    }
    return {s: (texts[s], ref("PlatformError")) for s in statuses}


def _admin_errors(*statuses: str) -> Responses:
    texts = {"400": "Invalid request", "401": "Missing or invalid secret key", "404": "No such user or group"}
    texts["409"] = "Name taken, or group not empty"
    return {s: (texts[s], ref("OperatorError")) for s in statuses}


def _message(key: str, schema_name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["message", key],
        "properties": {"message": {"type": "string"}, key: ref(schema_name)},
    }


_REMOVED = {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}
# The rules of chalicelib/entities/accounts.py (LOGIN_PATTERN, GROUP_PATTERN, PASSWORD_MIN/MAX).
_LOGIN_FIELD = {"type": "string", "pattern": "^[A-Za-z0-9._@+-]{1,128}$"}
_GROUP_NAME = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}
_PASSWORD_FIELD = {"type": "string", "minLength": 8, "maxLength": 1024}
_CREDENTIAL_FIELDS: dict[str, Any] = {"login": {"type": "string"}, "password": {"type": "string"}}
_CREDENTIALS: dict[str, Any] = {"type": "object", "required": ["login", "password"], "properties": _CREDENTIAL_FIELDS}

PATHS: dict[str, Any] = {
    "/api/v1/auth": {
        "post": operation(
            "Sign in: a session cookie (sid)",
            "platformSignIn",
            _T,
            {"200": ("Signed in; Set-Cookie: sid=...", ref("PlatformOk")), **_errors("400", "401", "429")},
            security=NONE,
            body=_CREDENTIALS,
        ),
        "get": operation(
            "The signed-in user",
            "platformWhoAmI",
            _T,
            {"200": ("The caller", ref("PlatformCaller")), **_errors("401")},
            security=USER,
        ),
    },
    "/api/v1/auth/token": {
        "post": operation(
            "Issue an access token (Authorization: Bearer)",
            "platformIssueToken",
            _T,
            {"200": ("The token", ref("PlatformToken")), **_errors("400", "401", "429")},
            security=NONE,
            body={
                **_CREDENTIALS,
                "properties": {
                    **_CREDENTIAL_FIELDS,
                    "expiresIn": {"type": "integer", "minimum": 60, "maximum": 2592000, "description": "seconds"},
                },
            },
        ),
    },
    "/api/v1/auth/logout": {
        "post": operation(
            "End the session or token used",
            "platformSignOut",
            _T,
            {"200": ("Signed out (the cookie is cleared)", ref("PlatformOk")), **_errors("401")},
            security=USER,
        ),
    },
    "/api/v1/{store}": {
        "parameters": [_STORE],
        "get": operation(
            "List the entities you may read, oldest first",
            "listEntities",
            _T,
            {
                "200": (
                    "The entities (or, with meta=true, the count, first and last)",
                    {"oneOf": [{"type": "array", "items": ref("Entity")}, ref("EntityListMeta")]},
                ),
                **_errors("400", "401"),
            },
            security=USER,
            parameters=_LIST_PARAMS,
        ),
        "post": operation(
            "Create an entity",
            "createEntity",
            _T,
            {"200": ("The new entity", ref("Entity")), **_errors("400", "401", "413")},
            security=USER,
            body=ref("EntityFields"),
        ),
    },
    "/api/v1/{store}/{entity_id}": {
        "parameters": [_STORE, _ID],
        "get": operation(
            "Retrieve an entity",
            "getEntity",
            _T,
            {"200": ("The entity", ref("Entity")), **_errors("400", "401", "403", "404")},
            security=USER,
        ),
        "patch": operation(
            "Change some fields of an entity",
            "patchEntity",
            _T,
            {"200": ("The changed entity", ref("Entity")), **_errors("400", "401", "403", "404", "409", "413")},
            security=USER,
            body=ref("EntityFields"),
        ),
        "delete": operation(
            "Remove an entity",
            "deleteEntity",
            _T,
            {"200": ("Removed", ref("PlatformDeleted")), **_errors("400", "401", "403", "404", "409")},
            security=USER,
        ),
    },
    "/admin/platform/users": {
        "post": operation(
            "Create a platform user (the group is created when new)",
            "adminCreatePlatformUser",
            _T,
            {"201": ("Created", _message("user", "PlatformUser")), **_admin_errors("400", "401", "409")},
            security=SECRET,
            body={
                "type": "object",
                "required": ["login", "password", "group"],
                "properties": {
                    "login": _LOGIN_FIELD,
                    "password": _PASSWORD_FIELD,
                    "group": {**_GROUP_NAME, "description": "group name"},
                },
            },
        ),
        "get": operation(
            "List platform users by login",
            "adminListPlatformUsers",
            _T,
            {"200": ("A page of users", ref("PlatformUserList")), **_admin_errors("400", "401", "404")},
            security=SECRET,
            parameters=[query_param("group", "Only the members of this group"), *_PAGING],
        ),
    },
    "/admin/platform/users/{login}": {
        "parameters": [_LOGIN],
        "get": operation(
            "Retrieve a platform user",
            "adminGetPlatformUser",
            _T,
            {"200": ("The user", ref("PlatformUser")), **_admin_errors("401", "404")},
            security=SECRET,
        ),
        "patch": operation(
            "Change a user's password (ending their sessions and tokens) or group",
            "adminUpdatePlatformUser",
            _T,
            {"200": ("Updated", _message("user", "PlatformUser")), **_admin_errors("400", "401", "404")},
            security=SECRET,
            body={
                "type": "object",
                "properties": {"password": _PASSWORD_FIELD, "group": _GROUP_NAME},
                "anyOf": [{"required": ["password"]}, {"required": ["group"]}],
            },
        ),
        "delete": operation(
            "Remove a platform user (their sessions, tokens and sockets end)",
            "adminDeletePlatformUser",
            _T,
            {"200": ("Removed", _REMOVED), **_admin_errors("401", "404")},
            security=SECRET,
        ),
    },
    "/admin/platform/groups": {
        "post": operation(
            "Create a group",
            "adminCreatePlatformGroup",
            _T,
            {"201": ("Created", _message("group", "PlatformGroup")), **_admin_errors("400", "401", "409")},
            security=SECRET,
            body={"type": "object", "required": ["name"], "properties": {"name": _GROUP_NAME}},
        ),
        "get": operation(
            "List groups by name",
            "adminListPlatformGroups",
            _T,
            {"200": ("A page of groups", ref("PlatformGroupList")), **_admin_errors("400", "401")},
            security=SECRET,
            parameters=_PAGING,
        ),
    },
    "/admin/platform/groups/{name}": {
        "parameters": [_GROUP],
        "get": operation(
            "Retrieve a group",
            "adminGetPlatformGroup",
            _T,
            {"200": ("The group", ref("PlatformGroup")), **_admin_errors("401", "404")},
            security=SECRET,
        ),
        "delete": operation(
            "Remove an empty group",
            "adminDeletePlatformGroup",
            _T,
            {"200": ("Removed", _REMOVED), **_admin_errors("401", "404", "409")},
            security=SECRET,
        ),
    },
}

_OBJECT_ID = {"type": "string", "pattern": "^[0-9a-f]{24}$"}
_IDS = {"type": "array", "items": _OBJECT_ID, "maxItems": 96}
_PAGE = {"has_more": {"type": "boolean"}, "next_cursor": {"type": ["string", "null"]}}

SCHEMAS: dict[str, Any] = {
    "PlatformError": {
        "type": "object",
        "required": ["success", "code", "message", "tags"],
        "properties": {
            "success": {"const": False},
            "code": {"type": "string", "examples": ["401"]},
            "message": {"type": "string", "examples": ["Unauthorized"]},
            "tags": {"type": "array", "items": {"type": "string"}, "examples": [["error_unauthorized"]]},
        },
    },
    "OperatorError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "PlatformOk": {
        "type": "object",
        "required": ["sucess", "success"],
        "properties": {
            "sucess": {"const": True, "description": "as documented"},
            "success": {"const": True},
        },
    },
    "PlatformCaller": {
        "type": "object",
        "required": ["sucess", "success", "_id", "login", "group"],
        "properties": {
            "sucess": {"const": True},
            "success": {"const": True},
            "_id": _OBJECT_ID,
            "login": {"type": "string"},
            "group": _OBJECT_ID,
        },
    },
    "PlatformToken": {
        "type": "object",
        "required": ["sucess", "success", "type", "token", "issuedAt", "expiresAt"],
        "properties": {
            "sucess": {"const": True},
            "success": {"const": True},
            "type": {"const": "access"},
            "token": {"type": "string"},
            "issuedAt": {"type": "integer", "description": "ms since 1970"},
            "expiresAt": {"type": "integer", "description": "ms since 1970"},
        },
    },
    "PlatformDeleted": {
        "type": "object",
        "required": ["sucess", "success", "_id"],
        "properties": {"sucess": {"const": True}, "success": {"const": True}, "_id": _OBJECT_ID},
    },
    "EntityFields": {
        "type": "object",
        "description": "Any JSON fields (numbers kept exactly). On creation, access and branch may be given; "
        "_id, owner, group and time never; PATCH cannot change access or branch either.",
        "properties": {"access": _IDS, "branch": _IDS},
        "additionalProperties": True,
    },
    "Entity": {
        "type": "object",
        "required": ["_id", "owner", "group", "access", "branch", "time"],
        "properties": {
            "_id": _OBJECT_ID,
            "owner": _OBJECT_ID,
            "group": _OBJECT_ID,
            "access": _IDS,
            "branch": _IDS,
            "time": {"type": "integer", "description": "creation, ms since 1970"},
        },
        "additionalProperties": True,
    },
    "EntityListMeta": {
        "type": "object",
        "required": ["count", "first", "last"],
        "properties": {
            "count": {"type": "integer"},
            "first": {"oneOf": [ref("Entity"), {"type": "null"}]},
            "last": {"oneOf": [ref("Entity"), {"type": "null"}]},
        },
    },
    "PlatformGroup": {
        "type": "object",
        "required": ["object", "_id", "name", "created_at"],
        "properties": {
            "object": {"const": "platform_group"},
            "_id": _OBJECT_ID,
            "name": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "PlatformUser": {
        "type": "object",
        "required": ["object", "_id", "login", "group", "created_at", "updated_at"],
        "properties": {
            "object": {"const": "platform_user"},
            "_id": _OBJECT_ID,
            "login": {"type": "string"},
            "group": {
                "type": "object",
                "properties": {"_id": _OBJECT_ID, "name": {"type": "string"}},
            },
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "PlatformUserList": {
        "type": "object",
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": ref("PlatformUser")}, **_PAGE},
    },
    "PlatformGroupList": {
        "type": "object",
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": ref("PlatformGroup")}, **_PAGE},
    },
}
