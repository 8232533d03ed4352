"""The OpenAPI 3.1 document: every service's paths and schemas, merged."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chalicelib import services
from chalicelib.contracts import ref

SECURITY_SCHEMES: dict[str, Any] = {
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "sid",
        "description": "Entity store: the session cookie set by POST /api/v1/auth.",
    },
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "Entity store: an access token from POST /api/v1/auth/token.",
    },
    "secretKey": {
        "type": "http",
        "scheme": "basic",
        "description": "HTTP Basic with the operator secret key as username and an empty password.",
    },
    "publishableKey": {
        "type": "apiKey",
        "in": "query",
        "name": "pizzly_pkey",
        "description": "The publishable key (PUBLISHABLE_KEY), safe to ship to browsers.",
    },
    "githubToken": {"type": "apiKey", "in": "header", "name": "X-Github-Token"},
    "customerKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A broker customer's API key: Authorization: Bearer <api key>.",
    },
    "customerApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "A broker customer's API key, as the X-Api-Key header.",
    },
    "proxyKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A broker instance's proxy key: Authorization: Bearer <proxy key>.",
    },
    "autotuneKey": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "A publishing (Autotune) user's API key, sent as: Authorization: API-KEY auth=KEY",
    },
}

_OWN_PATHS: dict[str, Any] = {
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "operationId": "openapi",
            "security": [],
            "responses": {"200": {"description": "The OpenAPI document", "content": {"application/json": {}}}},
        }
    }
}


def _to_openapi_path(path: str) -> str:
    return path.replace("+}", "}")


#: API Gateway's own error body: what it answers before or instead of the app.
GATEWAY_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string", "examples": ["Endpoint request timed out"]}},
}

# Statuses any operation can answer whatever its route does, because the middleware in app.py, the
# shared helpers in chalicelib/http.py and the AWS layer raise them: added to every operation below.
_EVERY_OPERATION: dict[str, str] = {
    "400": "A path or query parameter is not valid Unicode text",
    "413": "The request body is larger than MAX_BODY_BYTES (1 MiB by default; API Gateway refuses 10 MiB)",
    "500": "Unexpected error, logged with the request id (never a stack trace)",
    "502": "The answer would be larger than a Lambda response may be (response_too_large): narrow the request",
    "503": "A service Keyport depends on (DynamoDB, KMS, a provider) is unavailable, or the request ran out "
    "of time; nothing was left half-done, retry",
}
_JSON_BODY: dict[str, str] = {
    "400": "The body is missing, not valid JSON, not an object, or not valid text",
    "415": "The body is not sent as application/json",
}
_AUTHENTICATED: dict[str, str] = {"401": "Missing or invalid credentials"}
_GATEWAY: dict[str, str] = {"504": "API Gateway's own answer when the request takes longer than 29 s"}


def _takes_json(operation: dict[str, Any]) -> bool:
    return "application/json" in operation.get("requestBody", {}).get("content", {})


def _needs_credentials(operation: dict[str, Any]) -> bool:
    security = operation.get("security", [])
    return bool(security) and all(requirement for requirement in security)


def with_shared_responses(path: str, operation: dict[str, Any]) -> dict[str, Any]:
    """``operation`` with the statuses every route of its service can answer, in that service's error body.

    A status the operation documents itself is kept as it is; the others are added with the error
    schema of the service owning ``path`` (the body ``errors.render`` gives it), or API Gateway's own.
    """
    owner = services.owning(path)
    if owner.error_schema is None:
        raise LookupError(f"service {owner.name} documents {path} but declares no error_schema")
    error = ref(owner.error_schema)
    shared = {**_EVERY_OPERATION}
    if _takes_json(operation):
        shared.update(_JSON_BODY)
    if _needs_credentials(operation):
        shared.update(_AUTHENTICATED)
    schemas: dict[str, dict[str, Any]] = {status: error for status in shared}
    schemas["413"] = {"anyOf": [error, ref("GatewayError")]}  # over 10 MiB, API Gateway answers itself
    shared.update(_GATEWAY)
    schemas.update({status: ref("GatewayError") for status in _GATEWAY})
    responses = {
        status: {"description": text, "content": json_content(schemas[status])} for status, text in shared.items()
    }
    return {**operation, "responses": {**responses, **operation["responses"]}}


def with_idempotency(operation: dict[str, Any]) -> dict[str, Any]:
    """A create ``operation`` with the ``Idempotency-Key`` header and the answers it adds (chalicelib.idempotency)."""
    from chalicelib.idempotency import MAX_KEY_LENGTH, REPLAYED_HEADER

    header = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Makes a retried create safe: the first successful answer is stored for 24 h and replayed "
        "to the same caller for the same key and body (with Idempotent-Replayed: true).",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[ -~]+$"},
    }
    replayed = {
        REPLAYED_HEADER: {"description": "true when this is the stored answer of an earlier request with the same key",
                          "schema": {"type": "string", "enum": ["true"]}},
    }  # fmt: skip
    responses = {
        status: {**answer, "headers": {**answer.get("headers", {}), **replayed}} if status.startswith("2") else answer
        for status, answer in operation["responses"].items()
    }
    error = responses["400"]["content"]
    added = {
        "409": {"description": "A request with this Idempotency-Key is still running, or ended with an unknown "
                "outcome; retry after Retry-After seconds", "content": error},
        "422": {"description": "This Idempotency-Key was used with a different request", "content": error},
    }  # fmt: skip
    for status, answer in added.items():
        if status in responses:
            answer = {**responses[status], "description": responses[status]["description"] + "; or: "
                      + answer["description"]}  # fmt: skip
        responses[status] = answer
    return {**operation, "parameters": [*operation.get("parameters", []), header], "responses": responses}


def _with_shared_responses(path: str, item: dict[str, Any]) -> dict[str, Any]:
    shared = {key: value if key == "parameters" else with_shared_responses(path, value) for key, value in item.items()}
    if path in services.create_routes() and "post" in shared:
        shared["post"] = with_idempotency(shared["post"])
    return shared


@lru_cache(maxsize=1)
def _build(server: str) -> dict[str, Any]:
    paths: dict[str, Any] = dict(_OWN_PATHS)
    schemas: dict[str, Any] = {}
    tags: list[dict[str, str]] = []
    for service in services.declared():
        part = service.openapi_part()
        if part is None:
            continue
        service_paths, service_schemas, tag = part
        paths.update({_to_openapi_path(p): _with_shared_responses(p, v) for p, v in service_paths.items()})
        schemas.update(service_schemas)
        tags.append(tag)
    schemas["GatewayError"] = GATEWAY_ERROR
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Keyport",
            "version": "1.0.0",
            "description": "Self-hosted integrations backend: integrations (Pizzly API), credential broker, "
            "repo tags, publishing and entity store.",
        },
        "servers": [{"url": server}],
        "tags": tags,
        "paths": paths,
        "components": {"securitySchemes": SECURITY_SCHEMES, "schemas": schemas},
    }


def document(request: Any) -> dict[str, Any]:
    """The document, with the server URL of ``request`` (a Chalice request, or None)."""
    host = request.headers.get("host", "localhost") if request else "localhost"
    proto = request.headers.get("x-forwarded-proto", "https") if request else "https"
    return _build(f"{proto}://{host}")


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON content map for ``schema``."""
    return {"application/json": {"schema": schema}}
