"""A real OAuth 1.0a provider for tests, on oauthlib's server side, in a thread.

Keyport's OAuth 1.0a connect flow and proxy signing talk to it over HTTP; nothing in Keyport is patched.
Every signature is verified by oauthlib's endpoints (HMAC-SHA1, PLAINTEXT and RSA-SHA1). Storage is
in memory; every instance is independent.

Public API (stable; other tests rely on it)::

    provider = OAuth1Provider()
    base = provider.start()                        # "http://127.0.0.1:<port>", serving in a thread
    provider.add_client("consumer-key", "consumer-secret")              # HMAC-SHA1 / PLAINTEXT
    private_pem, public_pem = rsa_key_pair()       # an RSA-SHA1 consumer signs with the private key
    provider.add_client("rsa-key", "", rsa_public_key=public_pem)       # and registers the public one
    provider.definition("name", "HMAC-SHA1")       # a Keyport integration JSON for this provider;
                                                   # request=... is merged into its "request" section
    provider.stop()                                # (or: with OAuth1Provider() as provider: ...)

Endpoints (all under the base URL):

- ``POST /request_token``: a request token for the signed ``oauth_callback``.
- ``GET /authorize?oauth_token=...``: approves at once and redirects to the callback with
  ``oauth_token`` and ``oauth_verifier``.
- ``POST /access_token``: exchanges the authorized request token and verifier for an access token.
- ``ANY /api/<path>``: a protected resource. The signature is verified over the method, the full URL
  with its query, and a form body; 401 otherwise. It echoes the request as JSON ``{method, path, query:
  {name: [values]}, query_string, headers (lower-case names), body_base64, signature_method}``.

Recorded for assertions: ``requests`` (every call: endpoint, method, uri, headers, signature method,
whether it was valid), ``request_tokens`` (request token -> its secret, as issued), ``callbacks``
(request token -> the ``oauth_callback`` it was requested with), ``access_tokens`` (access token -> its
secret).

oauthlib verifies RSA-SHA1 through PyJWT, which Keyport does not install; this module gives oauthlib
an equivalent RSA PKCS#1 v1.5 verifier built on ``cryptography`` (signature base string and
everything else remain oauthlib's).
"""

from __future__ import annotations

import base64
import hmac
import json
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from flask import Flask, Response, request
from oauthlib.oauth1 import (
    AccessTokenEndpoint,
    AuthorizationEndpoint,
    RequestTokenEndpoint,
    RequestValidator,
    ResourceEndpoint,
)
from oauthlib.oauth1.rfc5849 import errors as oauth1_errors
from oauthlib.oauth1.rfc5849 import signature as oauth1_signature

from tests.support.local_wsgi import ServedLocally

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
SIGNATURE_METHODS = ("HMAC-SHA1", "PLAINTEXT", "RSA-SHA1")


class _CryptographyRSA:
    """The part of PyJWT's ``RSAAlgorithm`` that oauthlib uses, on ``cryptography``."""

    class _Hash:
        name = "SHA1"

    hash_alg = _Hash()

    def prepare_key(self, pem: str) -> Any:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

        data = pem.encode()
        if b"PRIVATE KEY" in data:
            return load_pem_private_key(data, password=None)
        return load_pem_public_key(data)

    def sign(self, message: bytes, key: Any) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        signed: bytes = key.sign(message, padding.PKCS1v15(), hashes.SHA1())
        return signed

    def verify(self, message: bytes, key: Any, sig: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            key.verify(sig, message, padding.PKCS1v15(), hashes.SHA1())
        except InvalidSignature:
            return False
        return True


oauth1_signature._jwt_rsa.setdefault("SHA-1", _CryptographyRSA())


@dataclass
class _Client:
    key: str
    secret: str
    rsa_public_key: str | None


@dataclass
class _RequestToken:
    token: str
    secret: str
    client_key: str
    callback: str
    verifier: str | None = None


@dataclass
class _AccessToken:
    token: str
    secret: str
    client_key: str


@dataclass
class RecordedRequest:
    """One call to the provider, and whether oauthlib accepted it."""

    endpoint: str
    method: str
    uri: str
    headers: dict[str, str]  # lower-case names
    signature_method: str | None
    valid: bool = False


class _Validator(RequestValidator):
    """oauthlib's storage and policy hooks over the provider's in-memory tables."""

    enforce_ssl = False  # the provider serves plain http on 127.0.0.1
    allowed_signature_methods = SIGNATURE_METHODS
    safe_characters = set(string.ascii_letters + string.digits + "-_")
    client_key_length = (3, 100)
    request_token_length = (20, 64)
    access_token_length = (20, 64)
    nonce_length = (8, 64)
    verifier_length = (8, 64)
    realms: list[str] = []
    dummy_client = "dummy-client-key"
    dummy_request_token = "dummy-request-token-0000000"
    dummy_access_token = "dummy-access-token-00000000"

    def __init__(self, provider: OAuth1Provider) -> None:
        super().__init__()
        self.provider = provider

    # clients
    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return client_key in self.provider._clients

    def get_client_secret(self, client_key: str, request: Any) -> str:
        client = self.provider._clients.get(client_key)
        return client.secret if client is not None else "dummy-secret"

    def get_rsa_key(self, client_key: str, request: Any) -> str:
        client = self.provider._clients.get(client_key)
        if client is None or not client.rsa_public_key:
            return _dummy_public_key()
        return client.rsa_public_key

    def validate_timestamp_and_nonce(
        self,
        client_key: str,
        timestamp: str,
        nonce: str,
        request: Any,
        request_token: str | None = None,
        access_token: str | None = None,
    ) -> bool:
        seen = (client_key, timestamp, nonce, request_token or access_token or "")
        with self.provider._lock:
            if seen in self.provider._nonces:
                return False
            self.provider._nonces.add(seen)
        return True

    # realms (unused: everything is one realm)
    def get_default_realms(self, client_key: str, request: Any) -> list[str]:
        return []

    def get_realms(self, token: str, request: Any) -> list[str]:
        return []

    def validate_requested_realms(self, client_key: str, realms: list[str], request: Any) -> bool:
        return True

    def validate_realms(self, client_key: str, token: str, request: Any, uri: Any = None, realms: Any = None) -> bool:
        return True

    def verify_realms(self, token: str, realms: list[str], request: Any) -> bool:
        return True

    # request tokens
    def validate_redirect_uri(self, client_key: str, redirect_uri: str, request: Any) -> bool:
        return redirect_uri.startswith(("http://", "https://"))

    def save_request_token(self, token: dict[str, str], request: Any) -> None:
        item = _RequestToken(
            token["oauth_token"], token["oauth_token_secret"], request.client_key, request.redirect_uri
        )
        with self.provider._lock:
            self.provider._request_tokens[item.token] = item
            self.provider.request_tokens[item.token] = item.secret
            self.provider.callbacks[item.token] = item.callback

    def verify_request_token(self, token: str, request: Any) -> bool:
        item = self.provider._request_tokens.get(token)
        return item is not None and item.verifier is None

    def get_redirect_uri(self, token: str, request: Any) -> str:
        return self.provider._request_tokens[token].callback

    def save_verifier(self, token: str, verifier: dict[str, str], request: Any) -> None:
        self.provider._request_tokens[token].verifier = verifier["oauth_verifier"]

    def validate_request_token(self, client_key: str, token: str, request: Any) -> bool:
        item = self.provider._request_tokens.get(token)
        return item is not None and item.client_key == client_key

    def get_request_token_secret(self, client_key: str, token: str, request: Any) -> str:
        item = self.provider._request_tokens.get(token)
        return item.secret if item is not None and item.client_key == client_key else "dummy-request-secret"

    def validate_verifier(self, client_key: str, token: str, verifier: str, request: Any) -> bool:
        item = self.provider._request_tokens.get(token)
        return item is not None and item.verifier is not None and hmac.compare_digest(item.verifier, verifier)

    def invalidate_request_token(self, client_key: str, request_token: str, request: Any) -> None:
        with self.provider._lock:
            self.provider._request_tokens.pop(request_token, None)

    # access tokens
    def save_access_token(self, token: dict[str, str], request: Any) -> None:
        item = _AccessToken(token["oauth_token"], token["oauth_token_secret"], request.client_key)
        with self.provider._lock:
            self.provider._access_tokens[item.token] = item
            self.provider.access_tokens[item.token] = item.secret

    def validate_access_token(self, client_key: str, token: str, request: Any) -> bool:
        item = self.provider._access_tokens.get(token)
        return item is not None and item.client_key == client_key

    def get_access_token_secret(self, client_key: str, token: str, request: Any) -> str:
        item = self.provider._access_tokens.get(token)
        return item.secret if item is not None and item.client_key == client_key else "dummy-access-secret"


class OAuth1Provider(ServedLocally):
    """An OAuth 1.0a provider and signed API on 127.0.0.1 (see the module docstring)."""

    thread_name = "oauth1-provider"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.request_tokens: dict[str, str] = {}
        self.callbacks: dict[str, str] = {}
        self.access_tokens: dict[str, str] = {}
        self._lock = threading.RLock()
        self._clients: dict[str, _Client] = {}
        self._request_tokens: dict[str, _RequestToken] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        self._nonces: set[tuple[str, str, str, str]] = set()
        validator = _Validator(self)
        self._request_token_endpoint = RequestTokenEndpoint(validator)
        self._authorization_endpoint = AuthorizationEndpoint(validator)
        self._access_token_endpoint = AccessTokenEndpoint(validator)
        self._resource_endpoint = ResourceEndpoint(validator)
        self.app = self._make_app()

    # --- set-up ------------------------------------------------------------------------------------

    def add_client(self, key: str, secret: str, *, rsa_public_key: str | None = None) -> None:
        """Register a consumer: a shared secret (HMAC-SHA1, PLAINTEXT) or an RSA public key (RSA-SHA1)."""
        with self._lock:
            self._clients[key] = _Client(key, secret, rsa_public_key)

    def definition(
        self, integration_name: str, signature_method: str = "HMAC-SHA1", *, request: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A Keyport integration (Pizzly's JSON format) using this provider."""
        if signature_method not in SIGNATURE_METHODS:
            raise ValueError(f"signature_method must be one of {SIGNATURE_METHODS}")
        return {
            "name": integration_name,
            "auth": {
                "authType": "OAUTH1",
                "requestTokenURL": f"{self.base_url}/request_token",
                "userAuthorizationURL": f"{self.base_url}/authorize",
                "accessTokenURL": f"{self.base_url}/access_token",
                "signatureMethod": signature_method,
            },
            "request": {"baseURL": f"{self.base_url}/api/", **(request or {})},
        }

    # --- the Flask application ---------------------------------------------------------------------

    def _make_app(self) -> Flask:
        app = Flask(f"oauth1-provider-{id(self)}")

        @app.post("/request_token")
        def request_token() -> Response:
            return self._token_answer("request_token", self._request_token_endpoint.create_request_token_response)

        @app.get("/authorize")
        def authorize() -> Response:
            record, uri, body, headers = self._record("authorize")
            try:
                response_headers, text, status = self._authorization_endpoint.create_authorization_response(
                    uri, http_method=request.method, body=body, headers=headers, realms=[]
                )
            except oauth1_errors.OAuth1Error as e:
                return Response(e.urlencoded, status=e.status_code, content_type="application/x-www-form-urlencoded")
            record.valid = True
            return Response(text or "", status=status, headers=response_headers)

        @app.post("/access_token")
        def access_token() -> Response:
            return self._token_answer("access_token", self._access_token_endpoint.create_access_token_response)

        @app.route("/api/", defaults={"path": ""}, methods=_METHODS)
        @app.route("/api/<path:path>", methods=_METHODS)
        def api(path: str) -> Response:
            record, uri, body, headers = self._record("api")
            valid, _ = self._resource_endpoint.validate_protected_resource_request(
                uri, http_method=request.method, body=body, headers=headers, realms=[]
            )
            record.valid = valid
            if not valid:
                return Response(json.dumps({"error": "invalid_signature"}), status=401, content_type="application/json")
            echo = {
                "method": request.method,
                "path": "/api/" + path,
                "query": {name: request.args.getlist(name) for name in request.args},
                "query_string": request.query_string.decode(),
                "headers": record.headers,
                "body_base64": base64.b64encode(request.get_data()).decode(),
                "signature_method": record.signature_method,
            }
            return Response(json.dumps(echo), status=200, content_type="application/json", headers={"X-Echo": "yes"})

        return app

    def _token_answer(self, endpoint: str, create_response: Callable[..., tuple[Any, str, int]]) -> Response:
        """Answer a request-token or access-token request with oauthlib's endpoint (``create_response``)."""
        record, uri, body, headers = self._record(endpoint)
        response_headers, text, status = create_response(uri, http_method=request.method, body=body, headers=headers)
        record.valid = status == 200
        return Response(text or "", status=status, headers=response_headers)

    def _record(self, endpoint: str) -> tuple[RecordedRequest, str, str, dict[str, str]]:
        """The request as oauthlib must see it: the exact URI the client signed, text body, headers."""
        raw_path = request.environ.get("RAW_URI") or request.full_path.rstrip("?")
        uri = f"{request.scheme}://{request.host}{raw_path}"
        body = request.get_data(as_text=True)
        headers = dict(request.headers.items())
        oauth_params = dict(
            oauth1_signature.collect_parameters(headers=headers, uri_query=request.query_string.decode())
        )
        record = RecordedRequest(
            endpoint=endpoint,
            method=request.method,
            uri=uri,
            headers={k.lower(): v for k, v in headers.items()},
            signature_method=oauth_params.get("oauth_signature_method"),
        )
        with self._lock:
            self.requests.append(record)
        return record, uri, body, headers


def rsa_key_pair(bits: int = 2048) -> tuple[str, str]:
    """A new RSA key pair as PEM text: (private key, public key), for RSA-SHA1 consumers."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@cache
def _dummy_public_key() -> str:
    """Verifies signatures of unknown consumers (always failing), as oauthlib's constant-time path wants."""
    return rsa_key_pair(1024)[1]
