"""A real OAuth 2 authorization server and API for tests, on authlib's server side, in a thread.

Keyport's connect flow, proxy and refresh talk to it over HTTP exactly as they talk to a provider:
nothing in Keyport is patched. Storage is in memory; every instance is independent.

Public API (stable; other tests rely on it)::

    provider = OAuth2Provider()
    base = provider.start()                     # "http://127.0.0.1:<port>", serving in a thread
    provider.add_client("id", "secret", ["https://localhost/auth/callback"],
                        token_endpoint_auth_method="client_secret_post",  # or "client_secret_basic"
                        require_pkce=True,      # authorization requests without S256 PKCE are refused
                        scope="read write")     # what the client may be granted (default when none asked)
    provider.definition("name", **auth)         # a Keyport integration JSON for this server; keyword
                                                # arguments are merged into "auth", request=... into "request"
    provider.stop()                             # (or: with OAuth2Provider() as provider: ...)

Recorded for assertions: ``authorization_requests`` (the query of each /authorize, a dict),
``token_requests`` (:class:`TokenRequest`: grant_type, form, headers, query, body_format, status, response),
``grants(grant_type)`` (the token requests of one grant type), ``api_requests`` (:class:`ApiRequest`:
method, path, query pairs, headers, body, authorized).

Endpoints:

- ``GET /authorize``: the authorization endpoint. It approves at once (no login page) and redirects to
  the ``redirect_uri`` with ``code`` and ``state``; after :meth:`OAuth2Provider.deny_next_authorization`
  it redirects with ``error=access_denied`` once. PKCE (``S256`` only) is enforced by authlib's
  ``CodeChallenge`` extension: the code verifier is checked at the token endpoint.
- ``POST /token``: ``authorization_code``, ``refresh_token`` and ``client_credentials`` grants; client
  authentication by ``client_secret_post`` or ``client_secret_basic`` (as the client was registered);
  form or JSON bodies (the rules are in tests/support/oauth2_token_rules.py). Each request is appended to
  ``token_requests`` (a :class:`TokenRequest`).
- ``ANY /api/<path>``: resources. A valid bearer access token is required (401 otherwise). Each call is
  appended to ``api_requests`` (an :class:`ApiRequest`). ``/api/binary`` answers :data:`BINARY_BODY`
  as ``application/octet-stream``; ``/api/status/<n>`` answers status ``n``; every other path echoes
  the request as JSON ``{method, path, query: {name: [values]}, query_string, headers (lower-case
  names), body_base64}`` with the response headers ``X-Echo: yes`` and ``X-Multi: one`` + ``X-Multi: two``.

Controls: ``access_token_lifetime`` (seconds, settable; 0 omits ``expires_in``), ``rotate_refresh_tokens``
(a refresh issues a new refresh token and revokes the old one; default True), ``token_delay`` (seconds
the token endpoint sleeps before answering), :meth:`~OAuth2Provider.expire_access_tokens`,
:meth:`~OAuth2Provider.revoke_refresh_tokens` (the next refresh answers ``invalid_grant``),
:meth:`~OAuth2Provider.fail_next_token_requests` (answer HTTP errors instead of tokens).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from flask import Flask, Response, request

from tests.support.local_wsgi import ServedLocally
from tests.support.oauth2_token_rules import (
    PKCE,
    USER_ID,
    AccessToken,
    AuthorizationCode,
    AuthorizationCodeGrant,
    BearerValidator,
    ClientCredentialsGrant,
    ProviderServer,
    RefreshToken,
    RefreshTokenGrant,
    RegisteredClient,
)

# The server runs on plain http://127.0.0.1; authlib refuses non-TLS requests unless told otherwise.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

#: What ``/api/binary`` answers: every byte value, not valid UTF-8.
BINARY_BODY = bytes(range(256))[::-1] + b"\x00\xff\xfe\x80keyport"

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@dataclass
class TokenRequest:
    """One call of the token endpoint, as received, and what it answered."""

    grant_type: str | None
    form: dict[str, str]  # the body parameters (form or JSON), one value each
    headers: dict[str, str]  # lower-case names
    query: dict[str, str]
    body_format: str  # "form" or "json"
    status: int = 0
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class ApiRequest:
    """One call of a resource endpoint."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    authorized: bool = False


class OAuth2Provider(ServedLocally):
    """An OAuth 2 authorization server and bearer-protected API on 127.0.0.1 (see the module docstring)."""

    thread_name = "oauth2-provider"

    def __init__(self, *, access_token_lifetime: int = 3600, rotate_refresh_tokens: bool = True) -> None:
        self.access_token_lifetime = access_token_lifetime
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.token_delay = 0.0
        self.token_requests: list[TokenRequest] = []
        self.api_requests: list[ApiRequest] = []
        self.authorization_requests: list[dict[str, str]] = []
        self._lock = threading.RLock()
        self._clients: dict[str, RegisteredClient] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshToken] = {}
        self._deny_next = False
        self._failures: list[tuple[int, dict[str, Any] | None]] = []
        self.app = self._make_app()

    # --- set-up and controls -----------------------------------------------------------------------

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str],
        *,
        token_endpoint_auth_method: str = "client_secret_post",
        require_pkce: bool = True,
        scope: str = "read write",
    ) -> None:
        """Register a confidential client."""
        if token_endpoint_auth_method not in ("client_secret_post", "client_secret_basic"):
            raise ValueError("token_endpoint_auth_method must be client_secret_post or client_secret_basic")
        with self._lock:
            self._clients[client_id] = RegisteredClient(
                client_id, client_secret, list(redirect_uris), token_endpoint_auth_method, require_pkce, scope
            )

    def deny_next_authorization(self) -> None:
        """The next /authorize redirects back with ``error=access_denied``."""
        with self._lock:
            self._deny_next = True

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired from now on (the API answers 401)."""
        with self._lock:
            for token in self._access.values():
                token.expires_at = time.time() - 1

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token issued so far is revoked: refreshing with one answers ``invalid_grant``."""
        with self._lock:
            for token in self._refresh.values():
                token.revoked = True

    def fail_next_token_requests(
        self, count: int = 1, *, status: int = 500, body: dict[str, Any] | None = None
    ) -> None:
        """The next ``count`` token requests answer ``status`` (with ``body`` as JSON, or a text body)."""
        with self._lock:
            self._failures.extend([(status, body)] * count)

    def grants(self, grant_type: str) -> list[TokenRequest]:
        """The recorded token requests of one grant type."""
        with self._lock:
            return [r for r in self.token_requests if r.grant_type == grant_type]

    def definition(
        self, integration_name: str, *, request: dict[str, Any] | None = None, **auth: Any
    ) -> dict[str, Any]:
        """A Keyport integration (Pizzly's JSON format) using this server; ``auth`` keys override."""
        return {
            "name": integration_name,
            "auth": {
                "authType": "OAUTH2",
                "authorizationURL": f"{self.base_url}/authorize",
                "tokenURL": f"{self.base_url}/token",
                **auth,
            },
            "request": {
                "baseURL": f"{self.base_url}/api/",
                "headers": {"Authorization": "Bearer ${auth.accessToken}"},
                **(request or {}),
            },
        }

    # --- storage (called by the grants) ------------------------------------------------------------

    def _query_client(self, client_id: str) -> RegisteredClient | None:
        with self._lock:
            return self._clients.get(client_id)

    def _save_token(self, token: dict[str, Any], oauth_request: Any) -> None:
        client_id = oauth_request.client.client_id
        scope = token.get("scope", "")
        with self._lock:
            expires_in = token.get("expires_in")
            expires_at = time.time() + expires_in if expires_in else None
            self._access[token["access_token"]] = AccessToken(token["access_token"], client_id, scope, expires_at)
            if token.get("refresh_token"):
                self._refresh[token["refresh_token"]] = RefreshToken(token["refresh_token"], client_id, scope)

    def _save_code(self, item: AuthorizationCode) -> None:
        with self._lock:
            self._codes[item.code] = item

    def _find_code(self, code: str, client: RegisteredClient) -> AuthorizationCode | None:
        with self._lock:
            item = self._codes.get(code)
        if item is None or item.client_id != client.client_id or item.expires_at < time.time():
            return None
        return item

    def _delete_code(self, item: AuthorizationCode) -> None:
        with self._lock:
            self._codes.pop(item.code, None)

    def _find_refresh(self, refresh_token: str) -> RefreshToken | None:
        with self._lock:
            item = self._refresh.get(refresh_token)
        return item if item is not None and not item.revoked else None

    def _find_access(self, access_token: str) -> AccessToken | None:
        with self._lock:
            return self._access.get(access_token)

    # --- the Flask application ---------------------------------------------------------------------

    def _make_app(self) -> Flask:
        app = Flask(f"oauth2-provider-{id(self)}")
        server = ProviderServer()
        server.provider = self
        server.init_app(app, query_client=self._query_client, save_token=self._save_token)
        server.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: "at-" + secrets.token_urlsafe(24),
                refresh_token_generator=lambda **_: "rt-" + secrets.token_urlsafe(24),
                expires_generator=lambda client, grant_type: self.access_token_lifetime,
            ),
        )
        server.register_grant(AuthorizationCodeGrant, [PKCE(required=True)])
        server.register_grant(RefreshTokenGrant)
        server.register_grant(ClientCredentialsGrant)
        protector = ResourceProtector()
        protector.register_token_validator(BearerValidator(self))

        @app.get("/authorize")
        def authorize() -> Any:
            with self._lock:
                self.authorization_requests.append(request.args.to_dict())
                deny, self._deny_next = self._deny_next, False
            try:
                grant = server.get_consent_grant(end_user=USER_ID)
            except OAuth2Error as error:
                return server.handle_error_response(None, error)
            return server.create_authorization_response(grant_user=None if deny else USER_ID, grant=grant)

        @app.post("/token")
        def token() -> Any:
            return self._token(server)

        @app.route("/api/", defaults={"path": ""}, methods=_METHODS)
        @app.route("/api/<path:path>", methods=_METHODS)
        def api(path: str) -> Any:
            return self._api(protector, path)

        return app

    def _token(self, server: ProviderServer) -> Response:
        body_format = "json" if request.is_json else "form"
        raw_form = (request.get_json(silent=True) or {}) if request.is_json else request.form.to_dict()
        record = TokenRequest(
            grant_type=str(raw_form.get("grant_type")) if raw_form.get("grant_type") else None,
            form={str(k): str(v) for k, v in raw_form.items()},
            headers={k.lower(): v for k, v in request.headers.items()},
            query=request.args.to_dict(),
            body_format=body_format,
        )
        with self._lock:
            self.token_requests.append(record)
            failure = self._failures.pop(0) if self._failures else None
        if self.token_delay:
            time.sleep(self.token_delay)
        if failure is not None:
            status, body = failure
            record.status, record.response = status, body or {}
            if body is None:
                return Response("upstream trouble", status=status, content_type="text/plain")
            return Response(json.dumps(body), status=status, content_type="application/json")
        response: Response = server.create_token_response()
        record.status = response.status_code
        record.response = json.loads(response.get_data() or b"{}")
        return response

    def _api(self, protector: ResourceProtector, path: str) -> Response:
        body = request.get_data(cache=True)
        record = ApiRequest(
            method=request.method,
            path="/api/" + path,
            query=list(request.args.items(multi=True)),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        with self._lock:
            self.api_requests.append(record)
        try:
            protector.acquire_token()
        except OAuth2Error as error:
            return Response(json.dumps(dict(error.get_body())), status=error.status_code, headers=error.get_headers())
        record.authorized = True
        if path == "binary":
            return Response(BINARY_BODY, status=200, content_type="application/octet-stream")
        if path.startswith("bytes/"):  # a body of N bytes, streamed in chunks
            size = int(path.split("/", 1)[1])
            chunks = (b"x" * min(65536, size - start) for start in range(0, size, 65536))
            return Response(chunks, status=200, content_type="application/octet-stream")
        if path.startswith("status/"):
            status = int(path.split("/", 1)[1])
            payload = b"" if status in (204, 304) else json.dumps({"status": status}).encode()
            return Response(payload, status=status, content_type="application/json", headers={"X-Echo": "yes"})
        echo = {
            "method": request.method,
            "path": record.path,
            "query": {name: request.args.getlist(name) for name in request.args},
            "query_string": request.query_string.decode(),
            "headers": record.headers,
            "body_base64": base64.b64encode(body).decode(),
        }
        response = Response(json.dumps(echo), status=200, content_type="application/json")
        response.headers["X-Echo"] = "yes"
        response.headers.add("X-Multi", "one")
        response.headers.add("X-Multi", "two")
        return response
