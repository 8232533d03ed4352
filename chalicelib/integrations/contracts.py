"""The integrations API's contracts (Pizzly's): bodies and answers as models, and one operation per route."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
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
)
from chalicelib.errors import BadRequest

TAG = {"name": "integrations", "description": "Pizzly's REST API: integrations, configurations, authentications."}
SECRET: Security = [{"secretKey": []}]
StringMap = dict[str, str]
M = TypeVar("M", bound=BaseModel)
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

#: The credentials and the payload tokens a body must give, by the integration's auth type.
CREDENTIALS = {"OAUTH1": ("consumerKey", "consumerSecret"), "OAUTH2": ("clientId", "clientSecret")}
TOKENS = {"OAUTH1": ("oAuthToken", "oAuthTokenSecret"), "OAUTH2": ("accessToken",)}


def _auth_type(info: ValidationInfo) -> str:
    return "OAUTH1" if (info.context or {}).get("auth_type") == "OAUTH1" else "OAUTH2"


class Broken:
    """The rules a body breaks, each field's first, answered in the order the service checks them."""

    def __init__(self, error: ValidationError | None) -> None:
        found = [] if error is None else error.errors(include_url=False)
        self.errors = {e["loc"][0] if e["loc"] else "": e for e in reversed(found)}  # each field's first

    def check(self, *fields: str, refuse: dict[str, type[BadRequest]] | None = None) -> None:
        """Raise the first broken rule of ``fields`` as 400 (the error class ``refuse`` names for its code)."""
        for name in fields:
            if name in self.errors:
                code, message = self.errors[name]["type"], self.errors[name]["msg"]
                kind = (refuse or {}).get(code)
                raise kind(message) if kind else BadRequest(message, code=code)


def read(model: type[M], body: Any, auth_type: str) -> tuple[M | None, Broken]:
    """``body`` as ``model`` for an integration of ``auth_type``, and the rules it breaks (none when valid)."""
    try:
        return model.model_validate(body, context={"auth_type": auth_type}), Broken(None)
    except ValidationError as e:
        return None, Broken(e)


class ConfigurationCredentials(BaseModel):
    """clientId and clientSecret (OAuth 2), or consumerKey and consumerSecret (OAuth 1.0a)"""

    clientId: Omittable[str] = None
    clientSecret: Omittable[str] = None
    consumerKey: Omittable[str] = None
    consumerSecret: Omittable[str] = None


Scope = Annotated[str, Field(min_length=1, max_length=512, pattern=r"\S")]


class ConfigurationInput(BaseModel):
    # The credentials an integration's auth type needs (context={"auth_type": ...}), trimmed; then the scopes.
    # (A comment, not a docstring: a docstring would become the schema's description.)

    credentials: ConfigurationCredentials
    scopes: Annotated[list[Scope], Field(max_length=200, description="Trimmed; repeats are dropped")] | None = None

    @model_validator(mode="before")
    @classmethod
    def _credentials_given(cls, data: Any) -> Any:
        return {"credentials": None, **data} if isinstance(data, dict) else data  # left out: its rule answers

    @field_validator("credentials", mode="wrap")
    @classmethod
    def _credentials(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        names = CREDENTIALS[_auth_type(info)]
        if not isinstance(value, dict):
            message = f"'credentials' must be an object with '{names[0]}' and '{names[1]}'."
            raise PydanticCustomError("invalid_credentials", message)
        for name in names:
            given = value.get(name)
            if not isinstance(given, str) or not given.strip() or len(given) > 4096:
                raise PydanticCustomError("invalid_credentials", f"'credentials.{name}' must be a non-empty string.")
        return handler({name: value[name].strip() for name in names})  # other fields are ignored

    @field_validator("scopes", mode="wrap")
    @classmethod
    def _scopes(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(s, str) and s.strip() and len(s) <= 512 for s in value):
            raise PydanticCustomError("invalid_scopes", "'scopes' must be a list of strings.")
        if len(value) > 200:
            raise PydanticCustomError("invalid_scopes", "'scopes' can hold at most 200 scopes.")
        scopes: list[str] = handler(list(dict.fromkeys(s.strip() for s in value)))
        return scopes

    def credential_values(self) -> dict[str, str]:
        """The credentials to store: the auth type's two names, trimmed."""
        return self.credentials.model_dump(exclude_unset=True)


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


class _AuthenticationBody(BaseModel):
    # The rules of an authentication's fields; the payload's tokens depend on the integration's auth type
    # (context={"auth_type": ...}). A comment, not a docstring: a docstring would become a schema description.

    @field_validator("setup_id", mode="wrap", check_fields=False)
    @classmethod
    def _setup_id(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if value is None or value == "":
            raise PydanticCustomError("missing_setup_id", cls.setup_id_missing)
        if not isinstance(value, str) or not value:
            raise PydanticCustomError("missing_setup_id", cls.setup_id_invalid)
        return handler(value)

    setup_id_missing: ClassVar[str] = "'setup_id' must be a configuration id."
    setup_id_invalid: ClassVar[str] = "'setup_id' must be a configuration id."

    @field_validator("payload", mode="wrap", check_fields=False)
    @classmethod
    def _payload(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        if value is None:
            raise PydanticCustomError("missing_oauth_payload", "'payload' is required.")
        if not isinstance(value, dict):
            raise PydanticCustomError("invalid_oauth_payload", "'payload' must be an object.")
        required = TOKENS[_auth_type(info)]
        for name in required:
            if not isinstance(value.get(name), str) or not value[name]:
                raise PydanticCustomError("invalid_oauth_payload", f"'payload.{name}' must be a non-empty string.")
        for name in ("refreshToken", "idToken", "tokenType"):
            if name in value and value[name] is not None and not isinstance(value[name], str):
                raise PydanticCustomError("invalid_oauth_payload", f"'payload.{name}' must be a string.")
        expires_in = value.get("expiresIn")
        if expires_in is not None and (type(expires_in) is not int or expires_in <= 0):
            message = "'payload.expiresIn' must be a positive number of seconds."
            raise PydanticCustomError("invalid_oauth_payload", message)
        checked = (*required, "refreshToken", "idToken", "tokenType", "expiresIn")
        return handler({name: value[name] for name in checked if name in value})  # stored: the body's own object

    @field_validator("connect_params", mode="wrap", check_fields=False)
    @classmethod
    def _connect_params(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        from chalicelib.integrations.params import validate_params  # the connect flow's rules too

        if value is None:
            return None
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise PydanticCustomError("invalid_connect_params", "'connect_params' must be an object of string values.")
        try:
            return handler(validate_params(value))
        except BadRequest as e:
            raise PydanticCustomError(e.error_code, e.message) from None


class AuthenticationInput(_AuthenticationBody):
    setup_id: str
    payload: OAuthPayload
    auth_id: Omittable[Annotated[str, Field(description="Optional id to use instead of a new UUID")]] = None
    connect_params: Omittable[StringMap] = None

    setup_id_missing: ClassVar[str] = (
        "'setup_id' is required: the id of the configuration this authentication was made with."
    )
    setup_id_invalid: ClassVar[str] = "'setup_id' must be a string."

    @model_validator(mode="before")
    @classmethod
    def _given(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        auth_id = {"auth_id": data["id"]} if "auth_id" not in data and "id" in data else {}
        return {"setup_id": None, "payload": None, **data, **auth_id}  # left out: the field's rule answers

    @field_validator("auth_id", mode="wrap")
    @classmethod
    def _auth_id(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        from chalicelib.integrations.ids import auth_id_allowed  # the connect flow's rule too

        if value is None:
            return None
        if not isinstance(value, str) or not auth_id_allowed(value):
            message = "'auth_id' must be a UUID or an id of letters, digits, '-' and '_'."
            raise PydanticCustomError("invalid_auth_id", message)
        return handler(value)


class AuthenticationUpdate(_AuthenticationBody):
    setup_id: Omittable[str] = None
    payload: OAuthPayload
    connect_params: Omittable[StringMap] = None

    @model_validator(mode="before")
    @classmethod
    def _given(cls, data: Any) -> Any:
        return {"payload": None, **data} if isinstance(data, dict) else data  # left out: its rule answers


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
