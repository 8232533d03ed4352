"""OpenAPI paths and schemas of the integrations REST API."""

from __future__ import annotations

from typing import Any

from chalicelib.openapi import operation, path_param, query_param, ref

TAG = {"name": "integrations", "description": "Pizzly's REST API: integrations, configurations, authentications."}
SECRET: list[dict[str, list[str]]] = [{"secretKey": []}]
_T = "integrations"

_INTEGRATION = path_param("integration", "Integration id, e.g. github")
_SETUP = path_param("setup_id", "Configuration id (setupId)")
_AUTH = path_param("auth_id", "Authentication id (authId)")
_PAGING = [
    query_param("limit", "Page size (1-100, default 25)", {"type": "integer", "minimum": 1, "maximum": 100}),
    query_param("cursor", "next_cursor of the previous page"),
]

_ERRORS: dict[str, tuple[str, dict[str, Any] | None]] = {
    "400": ("Invalid request", ref("PizzlyError")),
    "401": ("Missing or invalid secret key", ref("PizzlyError")),
    "404": ("Unknown integration, configuration or authentication", ref("PizzlyError")),
}


def _ok(text: str, schema: dict[str, Any], status: str = "200") -> dict[str, tuple[str, dict[str, Any] | None]]:
    return {status: (text, schema), **_ERRORS}


def _message(key: str, schema_name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["message", key],
        "properties": {"message": {"type": "string"}, key: ref(schema_name)},
    }


_REMOVED = {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}

PATHS: dict[str, Any] = {
    "/api": {
        "get": operation("Confirm the secret key works", "apiRoot", _T, _ok("Key accepted", _REMOVED), security=SECRET)
    },
    "/api/{integration}": {
        "parameters": [_INTEGRATION],
        "get": operation(
            "Retrieve an integration", "getIntegration", _T, _ok("The integration", ref("Integration")), security=SECRET
        ),
        "put": operation(
            "Add or replace a custom integration",
            "putIntegration",
            _T,
            {
                "201": ("Created", _message("integration", "Integration")),
                **_ok("Replaced", _message("integration", "Integration")),
            },
            security=SECRET,
            body=ref("IntegrationDefinition"),
        ),
        "delete": operation(
            "Remove a custom integration", "deleteIntegration", _T, _ok("Removed", _REMOVED), security=SECRET
        ),
    },
    "/api/{integration}/configurations": {
        "parameters": [_INTEGRATION],
        "get": operation(
            "List configurations, newest first",
            "listConfigurations",
            _T,
            _ok("A page of configurations", ref("ConfigurationList")),
            security=SECRET,
            parameters=_PAGING,
        ),
        "post": operation(
            "Save a new configuration",
            "createConfiguration",
            _T,
            _ok("Registered", _message("configuration", "Configuration"), "201"),
            security=SECRET,
            body=ref("ConfigurationInput"),
        ),
    },
    "/api/{integration}/configurations/{setup_id}": {
        "parameters": [_INTEGRATION, _SETUP],
        "get": operation(
            "Retrieve a configuration",
            "getConfiguration",
            _T,
            _ok("The configuration", ref("Configuration")),
            security=SECRET,
        ),
        "put": operation(
            "Replace a configuration's credentials and scopes",
            "updateConfiguration",
            _T,
            _ok("Updated", _message("configuration", "Configuration")),
            security=SECRET,
            body=ref("ConfigurationInput"),
        ),
        "delete": operation(
            "Delete a configuration", "deleteConfiguration", _T, _ok("Removed", _REMOVED), security=SECRET
        ),
    },
    "/api/{integration}/authentications": {
        "parameters": [_INTEGRATION],
        "get": operation(
            "List authentications, newest first",
            "listAuthentications",
            _T,
            _ok("A page of authentications", ref("AuthenticationList")),
            security=SECRET,
            parameters=[query_param("setup_id", "Only those made with this configuration"), *_PAGING],
        ),
        "post": operation(
            "Import an OAuth payload obtained elsewhere",
            "createAuthentication",
            _T,
            _ok("Created", _message("authentication", "Authentication"), "201"),
            security=SECRET,
            body=ref("AuthenticationInput"),
        ),
    },
    "/api/{integration}/authentications/{auth_id}": {
        "parameters": [_INTEGRATION, _AUTH],
        "get": operation(
            "Retrieve an authentication and its OAuth payload",
            "getAuthentication",
            _T,
            _ok("The authentication", ref("Authentication")),
            security=SECRET,
        ),
        "put": operation(
            "Replace an authentication's payload",
            "updateAuthentication",
            _T,
            _ok("Updated", _message("authentication", "Authentication")),
            security=SECRET,
            body=ref("AuthenticationUpdate"),
        ),
        "delete": operation(
            "Delete an authentication", "deleteAuthentication", _T, _ok("Removed", _REMOVED), security=SECRET
        ),
    },
    "/api/{integration}/authentications/{auth_id}/refresh": {
        "parameters": [_INTEGRATION, _AUTH],
        **{
            method: operation(
                "Refresh the access token now",
                f"refreshAuthentication{method.capitalize()}",
                _T,
                {
                    **_ok("Refreshed", _message("authentication", "Authentication")),
                    "422": ("token_refresh_missing or token_refresh_failed", ref("PizzlyError")),
                },
                security=SECRET,
            )
            for method in ("get", "post")
        },
    },
}

_PAGE = {"text/html": {"schema": {"type": "string"}}}
_PROXY_METHODS = ("get", "post", "put", "patch", "delete", "head")
_PROXY_PARAMS = [
    {"name": "Pizzly-Auth-Id", "in": "header", "required": True, "schema": {"type": "string", "minLength": 1}},
    {"name": "Pizzly-Setup-Id", "in": "header", "required": False, "schema": {"type": "string"}},
]
_CONNECT_PARAMS = [
    query_param("authId", "Reconnect this authentication instead of creating one (also auth_id)"),
    query_param("setupId", "Configuration to use; the latest one otherwise (also setup_id)"),
    {
        "name": "params",
        "in": "query",
        "style": "deepObject",
        "explode": True,
        "schema": {"type": "object", "additionalProperties": {"type": "string"}},
        "description": "params[name]=value fill ${connectParams.name} in the integration's URLs",
    },
]


def _page(text: str) -> dict[str, Any]:
    return {"description": text, "content": _PAGE}


def _page_or_error(text: str) -> dict[str, Any]:
    """A failure the connect flow shows as a page, or the middleware answers in JSON before the flow runs."""
    return {"description": text, "content": {**_PAGE, "application/json": {"schema": ref("PizzlyError")}}}


# Every connect step turns an error into a failure page with the error's status (routes._connect).
_CONNECT_FAILURES = {
    "403": _page("The provider's address is not an allowed destination (failure page)"),
    "404": _page("Unknown integration, or the flow's authentication or integration is gone (failure page)"),
    "500": _page_or_error("Unexpected error (failure page, or JSON when it happens outside the flow)"),
    "503": _page_or_error("DynamoDB, KMS or the provider unavailable, or out of time (failure page or JSON)"),
}


def _proxy_operation(method: str, suffix: str) -> dict[str, Any]:
    op = operation(
        "Call the integration's API with the stored credentials",
        f"proxy{suffix}{method.capitalize()}",
        _T,
        {
            "400": (
                "missing_auth_id; invalid_proxy_path (the path climbs out of the base URL's path: '..' in any "
                "encoding, encoded slashes or backslashes); invalid_connect_params",
                ref("PizzlyError"),
            ),
            "401": ("Missing or invalid key", ref("PizzlyError")),
            "403": ("destination_not_allowed: the integration's host is not a public address", ref("PizzlyError")),
            "404": ("Unknown integration or authentication", ref("PizzlyError")),
            "502": ("The integration's API could not be reached", ref("PizzlyError")),
        },
        security=[{"secretKey": []}, {"publishableKey": []}],
        parameters=_PROXY_PARAMS,
    )
    op["responses"]["default"] = {"description": "The upstream status, headers and body, as they came"}
    if method in ("post", "put", "patch", "delete"):
        op["requestBody"] = {"required": False, "content": {"*/*": {"schema": {}}}}
    return op


def _preflight_operation(suffix: str) -> dict[str, Any]:
    return {
        "summary": "CORS preflight for browser calls (pizzly-js)",
        "operationId": f"proxy{suffix}Preflight",
        "tags": [_T],
        "security": [],
        "responses": {"204": {"description": "Allowed origin, methods and requested headers"}},
    }


PATHS.update(
    {
        "/auth/{integration}": {
            "parameters": [_INTEGRATION],
            "get": {
                "summary": "Start connecting an account (the popup pizzly-js opens)",
                "operationId": "connectStart",
                "tags": [_T],
                "security": [{}, {"publishableKey": []}],
                "parameters": _CONNECT_PARAMS,
                "responses": {
                    "302": {"description": "Redirect to the provider's authorization page"},
                    "200": _page("Client-credentials integrations: connected at once; the page posts the result"),
                    "400": _page("Failure page posting AUTHORIZATION_FAILED to the opener"),
                    "401": _page("Missing or invalid publishable key (failure page)"),
                    **_CONNECT_FAILURES,
                },
            },
        },
        "/auth/callback": {
            "get": {
                "summary": "Where providers send the user back",
                "operationId": "connectCallback",
                "tags": [_T],
                "security": [],
                "parameters": [
                    query_param("state", "The flow's single-use state"),
                    query_param("code", "OAuth 2 authorization code"),
                    query_param("error", "OAuth 2 error, e.g. access_denied"),
                    query_param("oauth_token", "OAuth 1.0a request token"),
                    query_param("oauth_verifier", "OAuth 1.0a verifier"),
                ],
                "responses": {
                    "200": _page("Success page posting AUTHORIZATION_SUCEEDED with authId to the opener"),
                    "400": _page("Failure page (unknown, reused or expired state; provider error)"),
                    **_CONNECT_FAILURES,
                },
            }
        },
        "/proxy/{integration}": {
            "parameters": [_INTEGRATION],
            **{m: _proxy_operation(m, "Base") for m in _PROXY_METHODS},
            "options": _preflight_operation("Base"),
        },
        "/proxy/{integration}/{proxy+}": {
            "parameters": [_INTEGRATION, path_param("proxy", "The path to call on the integration's base URL")],
            **{m: _proxy_operation(m, "Path") for m in _PROXY_METHODS},
            "options": _preflight_operation("Path"),
        },
    }
)

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_TIMESTAMP = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "PizzlyError": {
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
    "IntegrationDefinition": {
        "type": "object",
        "required": ["name", "auth", "request"],
        "properties": {
            "name": {"type": "string", "maxLength": 100, "pattern": "\\S"},
            "image": {"type": "string", "format": "uri"},
            "auth": {
                "type": "object",
                "required": ["authType"],
                "properties": {
                    "authType": {"enum": ["OAUTH2", "OAUTH1"]},
                    "authorizationURL": {"type": "string"},
                    "tokenURL": {"type": "string"},
                    "refreshURL": {"type": "string"},
                    "authorizationParams": _STRING_MAP,
                    "tokenParams": _STRING_MAP,
                    "grantType": {"enum": ["authorization_code", "client_credentials"]},
                    "authorizationMethod": {"enum": ["body", "header"]},
                    "bodyFormat": {"enum": ["form", "json"]},
                    "config": {
                        "type": "object",
                        "properties": {"scope": {"type": "array", "items": {"type": "string"}}},
                    },
                    "pkce": {"type": "boolean"},
                    "refreshBufferSeconds": {"type": "integer", "minimum": 0, "maximum": 86400},
                    "requestTokenURL": {"type": "string"},
                    "userAuthorizationURL": {"type": "string"},
                    "accessTokenURL": {"type": "string"},
                    "signatureMethod": {"enum": ["HMAC-SHA1", "PLAINTEXT", "RSA-SHA1"]},
                },
            },
            "request": {
                "type": "object",
                "required": ["baseURL"],
                "properties": {"baseURL": {"type": "string"}, "headers": _STRING_MAP, "params": _STRING_MAP},
            },
        },
    },
    "Integration": {
        "allOf": [
            ref("IntegrationDefinition"),
            {
                "type": "object",
                "required": ["object", "id", "source"],
                "properties": {
                    "object": {"const": "integration"},
                    "id": {"type": "string"},
                    "source": {"enum": ["builtin", "custom"]},
                },
            },
        ]
    },
    "ConfigurationInput": {
        "type": "object",
        "required": ["credentials"],
        "properties": {
            "credentials": {
                "type": "object",
                "description": "clientId and clientSecret (OAuth 2), or consumerKey and consumerSecret (OAuth 1.0a)",
                "properties": {
                    "clientId": {"type": "string"},
                    "clientSecret": {"type": "string"},
                    "consumerKey": {"type": "string"},
                    "consumerSecret": {"type": "string"},
                },
            },
            "scopes": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Configuration": {
        "type": "object",
        "required": ["object", "id", "integration", "scopes", "credentials", "created_at", "updated_at"],
        "properties": {
            "object": {"const": "configuration"},
            "id": {"type": "string", "format": "uuid"},
            "integration": {"type": "string"},
            "scopes": {"type": "array", "items": {"type": "string"}},
            "credentials": {**_STRING_MAP, "description": "Masked: the first four characters, then '*'"},
            "created_at": _TIMESTAMP,
            "updated_at": _TIMESTAMP,
        },
    },
    "ConfigurationList": {
        "type": "object",
        "required": ["object", "data", "has_more", "next_cursor"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": ref("Configuration")},
            "has_more": {"type": "boolean"},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "OAuthPayload": {
        "type": "object",
        "description": "accessToken (OAuth 2) or oAuthToken and oAuthTokenSecret (OAuth 1.0a), "
        "and what else the provider gave",
        "properties": {
            "accessToken": {"type": "string"},
            "refreshToken": {"type": "string"},
            "expiresIn": {"type": "integer"},
            "idToken": {"type": "string"},
            "tokenType": {"type": "string"},
            "oAuthToken": {"type": "string"},
            "oAuthTokenSecret": {"type": "string"},
            "updatedAt": {"type": "integer", "description": "Milliseconds since the epoch"},
        },
        "additionalProperties": True,
    },
    "AuthenticationInput": {
        "type": "object",
        "required": ["setup_id", "payload"],
        "properties": {
            "setup_id": {"type": "string"},
            "payload": ref("OAuthPayload"),
            "auth_id": {"type": "string", "description": "Optional id to use instead of a new UUID"},
            "connect_params": _STRING_MAP,
        },
    },
    "AuthenticationUpdate": {
        "type": "object",
        "required": ["payload"],
        "properties": {"setup_id": {"type": "string"}, "payload": ref("OAuthPayload"), "connect_params": _STRING_MAP},
    },
    "Authentication": {
        "type": "object",
        "required": ["object", "id", "integration", "setup_id", "payload", "created_at", "updated_at"],
        "properties": {
            "object": {"const": "authentication"},
            "id": {"type": "string"},
            "integration": {"type": "string"},
            "setup_id": {"type": "string"},
            "payload": ref("OAuthPayload"),
            "connect_params": _STRING_MAP,
            "expires_at": {"type": ["string", "null"], "format": "date-time"},
            "refresh": {
                "type": "object",
                "properties": {
                    "needs_reconnect": {"type": "boolean"},
                    "attempts": {"type": "integer"},
                    "last_error": {"type": ["object", "null"]},
                    "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
                },
            },
            "created_at": _TIMESTAMP,
            "updated_at": _TIMESTAMP,
        },
    },
    "AuthenticationList": {
        "type": "object",
        "required": ["object", "data", "has_more", "next_cursor"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": ref("Authentication")},
            "has_more": {"type": "boolean"},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
}
