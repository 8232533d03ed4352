"""OpenAPI paths and schemas of the publishing API (Autotune's) and of its operators' accounts routes."""

from __future__ import annotations

from typing import Any

from chalicelib.openapi import operation, path_param, query_param, ref

TAG = {
    "name": "publishing",
    "description": "Autotune's Web API: projects built from git blueprints and themes, published to S3; "
    "and the operators' routes for its users, keys, groups and roles.",
}
KEY: list[dict[str, list[str]]] = [{"autotuneKey": []}]
SECRET: list[dict[str, list[str]]] = [{"secretKey": []}]
_T = "publishing"
_ID = path_param("id", "Numeric id or slug")
_USER = path_param("user", "Numeric user id or email")
_GROUP = path_param("group", "Numeric group id or slug")

Responses = dict[str, tuple[str, dict[str, Any] | None]]

_ERRORS: Responses = {
    "400": ("Invalid request (messages joined by ', ')", ref("AutotuneError")),
    "401": ("Missing or invalid API key", ref("AutotuneError")),
    "403": ("The user's role does not allow this", ref("AutotuneError")),
    "404": ("Unknown id or slug", ref("AutotuneError")),
    "406": ("Accept does not allow application/json", ref("AutotuneError")),
}
_BODY_ERRORS: Responses = {**_ERRORS, "415": ("The body is not sent as application/json", ref("AutotuneError"))}
_JOB_ERRORS: Responses = {**_ERRORS, "409": ("A job of this item is already queued or running", ref("AutotuneError"))}
_ADMIN_ERRORS: Responses = {
    "400": ("Invalid request", ref("AutotuneOperatorError")),
    "401": ("Missing or invalid secret key", ref("AutotuneOperatorError")),
    "404": ("Unknown user or group", ref("AutotuneOperatorError")),
}
_PAGING = [
    query_param("page", "Page number (default 1)", {"type": "integer", "minimum": 1}),
    query_param("per_page", "Items per page (1-100, default 15)", {"type": "integer", "minimum": 1, "maximum": 100}),
]
_LIST_HEADERS = {
    "X-Total": {"description": "Number of items matching the filters", "schema": {"type": "integer"}},
    "Link": {"description": "Links to the first, last, next and prev pages", "schema": {"type": "string"}},
}
_ACCEPTED = {"type": "object", "required": ["status"], "properties": {"status": {"const": "accepted"}}}


def _list_op(summary: str, op_id: str, item: str, filters: list[dict[str, Any]]) -> dict[str, Any]:
    op = operation(
        summary,
        op_id,
        _T,
        {"200": ("One page, newest update first", {"type": "array", "items": ref(item)}), **_ERRORS},
        security=KEY,
        parameters=[*filters, *_PAGING],
    )
    op["responses"]["200"]["headers"] = _LIST_HEADERS
    return op


def _crud(kind: str, name: str, view: str, create: str, update: str, extra: dict[str, Any]) -> dict[str, Any]:
    plural = kind + "s"
    item: dict[str, Any] = {
        "parameters": [_ID],
        "get": operation(
            f"Retrieve a {kind}", f"get{name}", _T, {"200": (f"The {kind}", ref(view)), **_ERRORS}, security=KEY
        ),
        "put": operation(
            f"Update a {kind}",
            f"update{name}",
            _T,
            {"200": ("Updated", ref(view)), **_BODY_ERRORS, **({"409": _JOB_ERRORS["409"]} if kind != "theme" else {})},
            security=KEY,
            body=ref(update),
        ),
        "delete": operation(
            f"Delete a {kind}",
            f"delete{name}",
            _T,
            {
                "204": ("Deleted", None),
                **_ERRORS,
                "409": ("The item is in use or changed meanwhile", ref("AutotuneError")),
            },
            security=KEY,
        ),
    }
    item["patch"] = {**item["put"], "operationId": f"patch{name}"}
    return {
        f"/{plural}": {
            "get": extra["list"],
            "post": operation(
                f"Create a {kind}",
                f"create{name}",
                _T,
                {"201": ("Created", ref(view)), **_BODY_ERRORS},
                security=KEY,
                body=ref(create),
            ),
        },
        f"/{plural}/{{id}}": item,
    }


def _action(summary: str, op_id: str) -> dict[str, Any]:
    return {
        "parameters": [_ID],
        "get": operation(summary, op_id, _T, {"202": ("Accepted", _ACCEPTED), **_JOB_ERRORS}, security=KEY),
    }


_PROJECT_FILTERS = [
    query_param("theme", "Theme slug"),
    query_param("blueprint", "Blueprint slug"),
    query_param("pub_status", "published or draft", {"enum": ["published", "draft"]}),
    query_param("search", "Part of the title, the author's name or email"),
    query_param("group", "Group slug"),
    query_param("status", "Project status"),
    query_param("type", "graphic or app", {"enum": ["graphic", "app"]}),
]

PATHS: dict[str, Any] = {
    **_crud(
        "project",
        "Project",
        "AutotuneProject",
        "AutotuneProjectInput",
        "AutotuneProjectUpdate",
        {"list": _list_op("List projects", "listProjects", "AutotuneProjectSummary", _PROJECT_FILTERS)},
    ),
    "/projects/{id}/update_snapshot": _action(
        "Upgrade to the blueprint's current version, then build", "upgradeProject"
    ),
    "/projects/{id}/build": _action("Build a preview", "buildProject"),
    "/projects/{id}/build_and_publish": _action("Build and publish", "publishProject"),
    **_crud(
        "blueprint",
        "Blueprint",
        "AutotuneBlueprint",
        "AutotuneBlueprintInput",
        "AutotuneBlueprintUpdate",
        {
            "list": _list_op(
                "List blueprints",
                "listBlueprints",
                "AutotuneBlueprint",
                [
                    query_param("type", "graphic or app", {"enum": ["graphic", "app"]}),
                    query_param("status", "Blueprint status"),
                    query_param("search", "Part of the title"),
                ],
            )
        },
    ),
    "/blueprints/{id}/update_repo": _action("Load the repository's latest commit", "updateBlueprintRepo"),
    **_crud(
        "theme",
        "Theme",
        "AutotuneTheme",
        "AutotuneThemeInput",
        "AutotuneThemeInput",
        {
            "list": _list_op(
                "List themes",
                "listThemes",
                "AutotuneTheme",
                [
                    query_param("status", "Theme status"),
                    query_param("group", "Group slug"),
                    query_param("search", "Part of the title"),
                ],
            )
        },
    ),
    "/themes/{id}/reset": _action("Restore the theme's data to what it was created with", "resetTheme"),
    "/admin/autotune/users": {
        "post": operation(
            "Create a user or superuser (the API key is shown once)",
            "createAutotuneUser",
            _T,
            {
                "201": ("Created", ref("AutotuneUserWithKey")),
                "409": ("Email taken", ref("AutotuneOperatorError")),
                **_ADMIN_ERRORS,
            },
            security=SECRET,
            body=ref("AutotuneUserInput"),
        )
    },
    "/admin/autotune/users/{user}": {
        "parameters": [_USER],
        "get": operation(
            "Retrieve a user and their groups",
            "getAutotuneUser",
            _T,
            {"200": ("The user", ref("AutotuneUser")), **_ADMIN_ERRORS},
            security=SECRET,
        ),
        "patch": operation(
            "Change a user's name or superuser flag",
            "updateAutotuneUser",
            _T,
            {"200": ("The user", ref("AutotuneUser")), **_ADMIN_ERRORS},
            security=SECRET,
            body=ref("AutotuneUserUpdate"),
        ),
    },
    "/admin/autotune/users/{user}/api_key": {
        "parameters": [_USER],
        "post": operation(
            "Issue a new API key (keys are stored as hashes and cannot be read back; the old key stops working)",
            "rotateAutotuneKey",
            _T,
            {"200": ("The new key", ref("AutotuneUserWithKey")), **_ADMIN_ERRORS},
            security=SECRET,
        ),
    },
    "/admin/autotune/groups": {
        "get": operation(
            "List groups",
            "listAutotuneGroups",
            _T,
            {"200": ("Every group", {"type": "array", "items": ref("AutotuneGroup")}), **_ADMIN_ERRORS},
            security=SECRET,
        ),
        "post": operation(
            "Create a group",
            "createAutotuneGroup",
            _T,
            {"201": ("Created", ref("AutotuneGroup")), **_ADMIN_ERRORS},
            security=SECRET,
            body=ref("AutotuneGroupInput"),
        ),
    },
    "/admin/autotune/groups/{group}": {
        "parameters": [_GROUP],
        "get": operation(
            "Retrieve a group and its members",
            "getAutotuneGroup",
            _T,
            {"200": ("The group", ref("AutotuneGroup")), **_ADMIN_ERRORS},
            security=SECRET,
        ),
    },
    "/admin/autotune/groups/{group}/members/{user}": {
        "parameters": [_GROUP, _USER],
        "put": operation(
            "Give a user a role in a group",
            "setAutotuneMember",
            _T,
            {
                "200": ("Role changed", ref("AutotuneMembership")),
                "201": ("Member added", ref("AutotuneMembership")),
                **_ADMIN_ERRORS,
            },
            security=SECRET,
            body={
                "type": "object",
                "required": ["role"],
                "properties": {"role": {"enum": ["author", "editor", "designer"]}},
            },
        ),
        "delete": operation(
            "Remove a user from a group",
            "removeAutotuneMember",
            _T,
            {"204": ("Removed", None), **_ADMIN_ERRORS},
            security=SECRET,
        ),
    },
}

_TIME = {"type": ["string", "null"], "format": "date-time"}
_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_OBJ = {"type": "object", "additionalProperties": True}
_REF = {"oneOf": [{"type": "string"}, {"type": "integer"}], "description": "Numeric id or slug"}

_PROJECT_SUMMARY = {
    "status": {"enum": ["new", "updating", "updated", "building", "built", "broken"]},
    "id": {"type": "integer"},
    "slug": _STR,
    "title": _STR,
    "built": {"type": "boolean"},
    "preview_url": _NSTR,
    "publish_url": _NSTR,
    "type": {"enum": ["graphic", "app", None]},
    **{f"screenshot_{s}_url": _NSTR for s in ("sm", "md", "lg", "sm2x", "md2x", "lg2x")},
    "blueprint_id": {"type": "integer"},
    "blueprint_title": _NSTR,
    "blueprint_version": _NSTR,
    "theme": _NSTR,
    "group": _NSTR,
    "created_by": _NSTR,
    "user_id": {"type": "integer"},
    "created_at": _TIME,
    "updated_at": _TIME,
    "published_at": _TIME,
    "data_updated_at": _TIME,
    "embed_html": _NSTR,
}

SCHEMAS: dict[str, Any] = {
    "AutotuneError": {"type": "object", "required": ["error"], "properties": {"error": _STR}},
    "AutotuneOperatorError": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "object", "properties": {"type": _STR, "message": _STR}}},
    },
    "AutotuneProjectSummary": {"type": "object", "properties": _PROJECT_SUMMARY},
    "AutotuneProject": {
        "type": "object",
        "properties": {
            **_PROJECT_SUMMARY,
            "blueprint_config": {"type": ["object", "null"]},
            "slug_sans_theme": _STR,
            "data": _OBJ,
            "error_message": _NSTR,
            "output": {"type": ["string", "null"], "description": "Output of the last build (superusers only)"},
        },
    },
    "AutotuneProjectInput": {
        "type": "object",
        "required": ["title", "blueprint", "theme"],
        "properties": {"title": _STR, "blueprint": _REF, "theme": _REF, "slug": _STR, "data": _OBJ},
    },
    "AutotuneProjectUpdate": {
        "type": "object",
        "properties": {"title": _STR, "theme": _REF, "slug": _STR, "data": _OBJ},
    },
    "AutotuneBlueprint": {
        "type": "object",
        "properties": {
            "status": {"enum": ["new", "updating", "testing", "ready", "broken"]},
            "id": {"type": "integer"},
            "slug": _STR,
            "title": _STR,
            "repo_url": _STR,
            "thumb_url": _NSTR,
            "type": {"enum": ["graphic", "app", None]},
            "mode": {"enum": ["testing", "ready", "retired"]},
            "config": {"type": ["object", "null"]},
            "version": _NSTR,
            "error_message": _NSTR,
            "output": _NSTR,
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    },
    "AutotuneBlueprintInput": {
        "type": "object",
        "required": ["title", "repo_url"],
        "properties": {
            "title": _STR,
            "repo_url": _STR,
            "slug": _STR,
            "thumb_url": _STR,
            "mode": {"enum": ["testing", "ready", "retired"]},
        },
    },
    "AutotuneBlueprintUpdate": {
        "type": "object",
        "properties": {
            "title": _STR,
            "repo_url": _STR,
            "slug": _STR,
            "thumb_url": _STR,
            "mode": {"enum": ["testing", "ready", "retired"]},
            "status": {"enum": ["testing", "ready"]},
        },
    },
    "AutotuneTheme": {
        "type": "object",
        "properties": {
            "status": {"enum": ["new", "updating", "ready", "broken"]},
            "id": {"type": "integer"},
            "slug": _STR,
            "title": _STR,
            "group": _NSTR,
            "group_id": {"type": "integer"},
            "data": _OBJ,
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    },
    "AutotuneThemeInput": {
        "type": "object",
        "properties": {"title": _STR, "slug": _STR, "group": _REF, "data": _OBJ},
    },
    "AutotuneUserInput": {
        "type": "object",
        "required": ["email"],
        "properties": {
            "email": {"type": "string", "maxLength": 254, "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"},
            "name": {"type": "string", "maxLength": 200},
            "superuser": {"type": "boolean"},
        },
    },
    "AutotuneUserUpdate": {"type": "object", "properties": {"name": _STR, "superuser": {"type": "boolean"}}},
    "AutotuneUser": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "email": _STR,
            "name": _STR,
            "superuser": {"type": "boolean"},
            "groups": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"group_id": {"type": "integer"}, "group": _NSTR, "role": _STR},
                },
            },
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    },
    "AutotuneUserWithKey": {
        "allOf": [
            ref("AutotuneUser"),
            {
                "type": "object",
                "required": ["api_key"],
                "properties": {"api_key": _STR, "rotated": {"type": "boolean"}, "message": _STR},
            },
        ]
    },
    "AutotuneGroupInput": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "maxLength": 200, "pattern": "\\S"}, "slug": _STR},
    },
    "AutotuneGroup": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "slug": _STR,
            "name": _STR,
            "default": {"type": "boolean"},
            "members": {"type": "array", "items": ref("AutotuneMembership")},
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    },
    "AutotuneMembership": {
        "type": "object",
        "properties": {
            "group_id": {"type": "integer"},
            "group": _STR,
            "user_id": {"type": "integer"},
            "email": _NSTR,
            "name": _NSTR,
            "role": {"enum": ["author", "editor", "designer"]},
        },
    },
}
