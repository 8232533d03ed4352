"""The token rules of the OAuth 2 stand-in (tests/support/oauth2_provider.py), on authlib's server side:
registered clients and what they may use, authorization codes, access and refresh tokens, JSON token
requests read like form ones, S256 PKCE, the three grants and the bearer validator. What they store is
kept by the :class:`~tests.support.oauth2_provider.OAuth2Provider` they serve."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, InvalidRequestError, grants
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from werkzeug.datastructures import CombinedMultiDict, MultiDict

if TYPE_CHECKING:
    from tests.support.oauth2_provider import OAuth2Provider

USER_ID = "user-1"


@dataclass
class RegisteredClient(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    token_endpoint_auth_method: str
    require_pkce: bool
    scope: str
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token", "client_credentials")

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        allowed = scope_to_list(self.scope) or []
        if not scope:
            return list_to_scope(allowed)
        asked = scope_to_list(scope) or []
        if any(s not in allowed for s in asked):
            return None
        return list_to_scope(asked)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method == self.token_endpoint_auth_method
        return True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class AccessToken:
    access_token: str
    client_id: str
    scope: str
    expires_at: float | None
    revoked: bool = False

    def check_client(self, client: RegisteredClient) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return 0 if self.expires_at is None else max(int(self.expires_at - time.time()), 0)

    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= time.time()

    def is_revoked(self) -> bool:
        return self.revoked


@dataclass
class RefreshToken:
    refresh_token: str
    client_id: str
    scope: str
    revoked: bool = False

    def check_client(self, client: RegisteredClient) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def is_revoked(self) -> bool:
        return self.revoked


class JsonAwareRequest(FlaskOAuth2Request):
    """Token requests in JSON (Keyport's ``bodyFormat: json``) read like form ones."""

    def __init__(self, flask_request: Any) -> None:
        super().__init__(flask_request)
        self._json_form: MultiDict[str, str] | None = None
        if flask_request.is_json:
            data = flask_request.get_json(silent=True) or {}
            self._json_form = MultiDict({str(k): str(v) for k, v in data.items()})
            self.payload = CombinedPayload(flask_request, self._json_form)

    @property
    def form(self) -> Any:
        return self._json_form if self._json_form is not None else self._request.form


class CombinedPayload(FlaskOAuth2Payload):
    def __init__(self, flask_request: Any, json_form: MultiDict[str, str]) -> None:
        super().__init__(flask_request)
        self._combined = CombinedMultiDict([flask_request.args, json_form])

    @property
    def data(self) -> Any:
        return self._combined


class ProviderServer(AuthorizationServer):
    provider: OAuth2Provider

    def create_oauth2_request(self, request: Any) -> FlaskOAuth2Request:
        from flask import request as flask_request

        return JsonAwareRequest(flask_request)


class PKCE(CodeChallenge):
    """S256 only; a client registered with ``require_pkce`` must send a challenge."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if grant.request.client.require_pkce and not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: 'code_challenge' is missing.")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only the S256 code challenge method is supported.")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    server: ProviderServer

    def save_authorization_code(self, code: str, oauth_request: Any) -> None:
        data = oauth_request.payload.data
        item = AuthorizationCode(
            code=code,
            client_id=oauth_request.client.client_id,
            redirect_uri=oauth_request.payload.redirect_uri,
            scope=oauth_request.scope or "",
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            expires_at=time.time() + 300,
        )
        self.server.provider._save_code(item)

    def query_authorization_code(self, code: str, client: RegisteredClient) -> AuthorizationCode | None:
        return self.server.provider._find_code(code, client)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        self.server.provider._delete_code(authorization_code)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> str:
        return USER_ID


class RefreshTokenGrant(grants.RefreshTokenGrant):
    server: ProviderServer
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        return self.server.provider._find_refresh(refresh_token)

    def authenticate_user(self, refresh_token: RefreshToken) -> str:
        return USER_ID

    def issue_token(self, user: Any, refresh_token: RefreshToken) -> dict[str, Any]:
        scope = self.request.payload.scope or refresh_token.get_scope()
        token: dict[str, Any] = self.generate_token(
            user=user, scope=scope, include_refresh_token=self.server.provider.rotate_refresh_tokens
        )
        return token

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        if self.server.provider.rotate_refresh_tokens:
            refresh_token.revoked = True


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class BearerValidator(BearerTokenValidator):
    def __init__(self, provider: OAuth2Provider) -> None:
        super().__init__()
        self.provider = provider

    def authenticate_token(self, token_string: str) -> AccessToken | None:
        return self.provider._find_access(token_string)
