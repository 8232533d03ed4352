"""The integrations API's contracts (Pizzly's): bodies and answers as models, and one operation per route."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.contracts import (
    CursorPage,
    ErrorBody,
    Omittable,
    Operation,
    Response,
    Security,
    cursor_paging,
    parameter,
)

TAG = {"name": "integrations", "description": "Pizzly's REST API: integrations, configurations, authentications."}
SECRET: Security = [{"secretKey": []}]
StringMap = dict[str, str]
Responses = dict[str, Response | tuple[str, Any]]


class PizzlyError(ErrorBody):
    """Every error of the integrations API."""


class PizzlyMessage(BaseModel):
    message: str


# --- integrations -----------------------------------------------------------------------------------


class IntegrationConfig(BaseModel):
    scope: Omittable[list[str]] = None


class IntegrationAuth(BaseModel):
    authType: Literal["OAUTH2", "OAUTH1"]
    authorizationURL: Omittable[str] = None
    tokenURL: Omittable[str] = None
    refreshURL: Omittable[str] = None
    authorizationParams: Omittable[StringMap] = None
    tokenParams: Omittable[StringMap] = None
    grantType: Omittable[Literal["authorization_code", "client_credentials"]] = None
    authorizationMethod: Omittable[Literal["body", "header"]] = None
    bodyFormat: Omittable[Literal["form", "json"]] = None
    config: Omittable[IntegrationConfig] = None
    pkce: Omittable[bool] = None
    refreshBufferSeconds: Omittable[Annotated[int, Field(ge=0, le=86400)]] = None
    requestTokenURL: Omittable[str] = None
    userAuthorizationURL: Omittable[str] = None
    accessTokenURL: Omittable[str] = None
    signatureMethod: Omittable[Literal["HMAC-SHA1", "PLAINTEXT", "RSA-SHA1"]] = None


class IntegrationRequest(BaseModel):
    baseURL: str
    headers: Omittable[StringMap] = None
    params: Omittable[StringMap] = None


class IntegrationDefinition(BaseModel):
    name: Annotated[str, Field(max_length=100, pattern=r"\S")]
    image: Omittable[Annotated[str, Field(json_schema_extra={"format": "uri"})]] = None
    auth: IntegrationAuth
    request: IntegrationRequest


class Integration(IntegrationDefinition):
    object: Literal["integration"]
    id: str
    source: Literal["builtin", "custom"]


class IntegrationMessage(PizzlyMessage):
    integration: Integration


# --- configurations ---------------------------------------------------------------------------------


class ConfigurationCredentials(BaseModel):
    """clientId and clientSecret (OAuth 2), or consumerKey and consumerSecret (OAuth 1.0a)"""

    clientId: Omittable[str] = None
    clientSecret: Omittable[str] = None
    consumerKey: Omittable[str] = None
    consumerSecret: Omittable[str] = None


Scope = Annotated[str, Field(min_length=1, max_length=512, pattern=r"\S")]


class ConfigurationInput(BaseModel):
    credentials: ConfigurationCredentials
    scopes: Annotated[list[Scope], Field(max_length=200, description="Trimmed; repeats are dropped")] | None = None


class Configuration(BaseModel):
    object: Literal["configuration"]
    id: uuid.UUID
    integration: str
    scopes: list[str]
    credentials: Annotated[StringMap, Field(description="Masked: the first four characters, then '*'")]
    created_at: datetime
    updated_at: datetime


class ConfigurationList(CursorPage[Configuration]):
    """A page of configurations, newest first."""


class ConfigurationMessage(PizzlyMessage):
    configuration: Configuration


# --- authentications --------------------------------------------------------------------------------


class OAuthPayload(BaseModel):
    """accessToken (OAuth 2) or oAuthToken and oAuthTokenSecret (OAuth 1.0a), and what else the provider gave"""

    model_config = ConfigDict(extra="allow")

    accessToken: Omittable[str] = None
    refreshToken: Omittable[str] = None
    expiresIn: Omittable[int] = None
    idToken: Omittable[str] = None
    tokenType: Omittable[str] = None
    oAuthToken: Omittable[str] = None
    oAuthTokenSecret: Omittable[str] = None
    updatedAt: Omittable[Annotated[int, Field(description="Milliseconds since the epoch")]] = None


class AuthenticationInput(BaseModel):
    setup_id: str
    payload: OAuthPayload
    auth_id: Omittable[Annotated[str, Field(description="Optional id to use instead of a new UUID")]] = None
    connect_params: Omittable[StringMap] = None


class AuthenticationUpdate(BaseModel):
    setup_id: Omittable[str] = None
    payload: OAuthPayload
    connect_params: Omittable[StringMap] = None


class AuthenticationRefresh(BaseModel):
    needs_reconnect: Omittable[bool] = None
    attempts: Omittable[int] = None
    last_error: dict[str, Any] | None = None
    next_attempt_at: datetime | None = None


class Authentication(BaseModel):
    object: Literal["authentication"]
    id: str
    integration: str
    setup_id: str
    payload: OAuthPayload
    connect_params: Omittable[StringMap] = None
    expires_at: datetime | None = None
    refresh: Omittable[AuthenticationRefresh] = None
    created_at: datetime
    updated_at: datetime


class AuthenticationList(CursorPage[Authentication]):
    """A page of authentications, newest first."""


class AuthenticationMessage(PizzlyMessage):
    authentication: Authentication


# --- operations of /api -----------------------------------------------------------------------------

INTEGRATION = parameter("integration", "path", "Integration id, e.g. github")
_SETUP = parameter("setup_id", "path", "Configuration id (setupId)")
_AUTH = parameter("auth_id", "path", "Authentication id (authId)")
_PAGING = cursor_paging()
_ERRORS: Responses = {
    "400": ("Invalid request", PizzlyError),
    "401": ("Missing or invalid secret key", PizzlyError),
    "404": ("Unknown integration, configuration or authentication", PizzlyError),
}
_INTEGRATION = "/api/{integration}"
_CONFIGURATIONS = f"{_INTEGRATION}/configurations"
_AUTHENTICATIONS = f"{_INTEGRATION}/authentications"


def _op(method: str, path: str, summary: str, op_id: str, ok: Responses, **more: Any) -> Operation:
    ids = [p for p in (INTEGRATION, _SETUP, _AUTH) if f"{{{p['name']}}}" in path]
    return Operation(method, path, summary, op_id, "integrations", SECRET, {**ok, **_ERRORS}, path_parameters=ids,
                     **more)  # fmt: skip


_REFRESHED: Responses = {
    "200": ("Refreshed", AuthenticationMessage),
    "422": ("token_refresh_missing or token_refresh_failed", PizzlyError),
}

API_OPERATIONS = [
    _op("get", "/api", "Confirm the secret key works", "apiRoot", {"200": ("Key accepted", PizzlyMessage)}),
    _op("get", _INTEGRATION, "Retrieve an integration", "getIntegration", {"200": ("The integration", Integration)}),
    _op("put", _INTEGRATION, "Add or replace a custom integration", "putIntegration",
        {"201": ("Created", IntegrationMessage), "200": ("Replaced", IntegrationMessage)}, body=IntegrationDefinition),
    _op("delete", _INTEGRATION, "Remove a custom integration", "deleteIntegration",
        {"200": ("Removed", PizzlyMessage)}),
    _op("get", _CONFIGURATIONS, "List configurations, newest first", "listConfigurations",
        {"200": ("A page of configurations", ConfigurationList)}, parameters=_PAGING),
    _op("post", _CONFIGURATIONS, "Save a new configuration", "createConfiguration",
        {"201": ("Registered", ConfigurationMessage)}, body=ConfigurationInput),
    _op("get", f"{_CONFIGURATIONS}/{{setup_id}}", "Retrieve a configuration", "getConfiguration",
        {"200": ("The configuration", Configuration)}),
    _op("put", f"{_CONFIGURATIONS}/{{setup_id}}", "Replace a configuration's credentials and scopes",
        "updateConfiguration", {"200": ("Updated", ConfigurationMessage)}, body=ConfigurationInput),
    _op("delete", f"{_CONFIGURATIONS}/{{setup_id}}", "Delete a configuration", "deleteConfiguration",
        {"200": ("Removed", PizzlyMessage)}),
    _op("get", _AUTHENTICATIONS, "List authentications, newest first", "listAuthentications",
        {"200": ("A page of authentications", AuthenticationList)},
        parameters=[parameter("setup_id", "query", "Only those made with this configuration"), *_PAGING]),
    _op("post", _AUTHENTICATIONS, "Import an OAuth payload obtained elsewhere", "createAuthentication",
        {"201": ("Created", AuthenticationMessage)}, body=AuthenticationInput),
    _op("get", f"{_AUTHENTICATIONS}/{{auth_id}}", "Retrieve an authentication and its OAuth payload",
        "getAuthentication", {"200": ("The authentication", Authentication)}),
    _op("put", f"{_AUTHENTICATIONS}/{{auth_id}}", "Replace an authentication's payload", "updateAuthentication",
        {"200": ("Updated", AuthenticationMessage)}, body=AuthenticationUpdate),
    _op("delete", f"{_AUTHENTICATIONS}/{{auth_id}}", "Delete an authentication", "deleteAuthentication",
        {"200": ("Removed", PizzlyMessage)}),
    *(_op(method, f"{_AUTHENTICATIONS}/{{auth_id}}/refresh", "Refresh the access token now",
          f"refreshAuthentication{method.capitalize()}", _REFRESHED) for method in ("get", "post")),
]  # fmt: skip


# --- operations of the connect flow and the proxy ---------------------------------------------------

_PAGE = Annotated[str, Field(description="An HTML page")]
_CONNECT_PARAMS = [
    parameter("authId", "query", "Reconnect this authentication instead of creating one (also auth_id)"),
    parameter("setupId", "query", "Configuration to use; the latest one otherwise (also setup_id)"),
    {
        "name": "params",
        "in": "query",
        "style": "deepObject",
        "explode": True,
        "schema": {"type": "object", "additionalProperties": {"type": "string"}},
        "description": "params[name]=value fill ${connectParams.name} in the integration's URLs",
    },
]


def _page(text: str) -> Response:
    return Response(text, str, media_type="text/html")


def _page_or_error(text: str) -> Response:
    """A failure the connect flow shows as a page, or the middleware answers in JSON before the flow runs."""
    return Response(text, content={"text/html": str, "application/json": PizzlyError})


# Every connect step turns an error into a failure page with the error's status (routes._connect).
_CONNECT_FAILURES: Responses = {
    "403": _page("The provider's address is not an allowed destination (failure page)"),
    "404": _page("Unknown integration, or the flow's authentication or integration is gone (failure page)"),
    "500": _page_or_error("Unexpected error (failure page, or JSON when it happens outside the flow)"),
    "503": _page_or_error("DynamoDB, KMS or the provider unavailable, or out of time (failure page or JSON)"),
}
_CALLBACK_PARAMS = [
    parameter(name, "query", text)
    for name, text in (
        ("state", "The flow's single-use state"),
        ("code", "OAuth 2 authorization code"),
        ("error", "OAuth 2 error, e.g. access_denied"),
        ("oauth_token", "OAuth 1.0a request token"),
        ("oauth_verifier", "OAuth 1.0a verifier"),
    )
]
_PROXY_ERRORS: Responses = {
    "400": (
        "missing_auth_id; invalid_proxy_path (the path climbs out of the base URL's path: '..' in any "
        "encoding, encoded slashes or backslashes); invalid_connect_params",
        PizzlyError,
    ),
    "401": ("Missing or invalid key", PizzlyError),
    "403": ("destination_not_allowed: the integration's host is not a public address", PizzlyError),
    "404": ("Unknown integration or authentication", PizzlyError),
    "502": ("The integration's API could not be reached", PizzlyError),
    "default": Response("The upstream status, headers and body, as they came", content={"*/*": {}}),
}
_PROXY_PARAMS = [
    parameter("Pizzly-Auth-Id", "header", "", {"type": "string", "minLength": 1}, required=True),
    parameter("Pizzly-Setup-Id", "header", "", required=False),
]
_PROXY_PATHS = {
    "Base": ("/proxy/{integration}", [INTEGRATION]),
    "Path": (
        "/proxy/{integration}/{proxy+}",
        [INTEGRATION, parameter("proxy", "path", "The path to call on the integration's base URL")],
    ),
}


def _proxy(method: str, suffix: str) -> Operation:
    path, ids = _PROXY_PATHS[suffix]
    summary = "Call the integration's API with the stored credentials"
    security: Security = [{"secretKey": []}, {"publishableKey": []}]
    body: dict[str, Any] | None = {} if method in ("post", "put", "patch", "delete") else None
    return Operation(
        method, path, summary, f"proxy{suffix}{method.capitalize()}", "integrations", security, _PROXY_ERRORS,
        parameters=_PROXY_PARAMS, path_parameters=ids, body=body, body_required=False, body_media_type="*/*",
    )  # fmt: skip


def _preflight(suffix: str) -> Operation:
    path, ids = _PROXY_PATHS[suffix]
    allowed: Responses = {"204": ("Allowed origin, methods and requested headers", None)}
    summary = "CORS preflight for browser calls (pizzly-js)"
    return Operation("options", path, summary, f"proxy{suffix}Preflight", "integrations", [], allowed,
                     path_parameters=ids)  # fmt: skip


FLOW_OPERATIONS = [
    Operation(
        "get", "/auth/{integration}", "Start connecting an account (the popup pizzly-js opens)", "connectStart",
        "integrations", [{}, {"publishableKey": []}],
        {
            "302": ("Redirect to the provider's authorization page", None),
            "200": _page("Client-credentials integrations: connected at once; the page posts the result"),
            "400": _page("Failure page posting AUTHORIZATION_FAILED to the opener"),
            "401": _page("Missing or invalid publishable key (failure page)"),
            **_CONNECT_FAILURES,
        },
        parameters=_CONNECT_PARAMS, path_parameters=[INTEGRATION],
    ),
    Operation(
        "get", "/auth/callback", "Where providers send the user back", "connectCallback", "integrations", [],
        {
            "200": _page("Success page posting AUTHORIZATION_SUCEEDED with authId to the opener"),
            "400": _page("Failure page (unknown, reused or expired state; provider error)"),
            **_CONNECT_FAILURES,
        },
        parameters=_CALLBACK_PARAMS,
    ),
    *(
        op
        for suffix in _PROXY_PATHS
        for op in (*(_proxy(m, suffix) for m in ("get", "post", "put", "patch", "delete", "head")), _preflight(suffix))
    ),
]  # fmt: skip
