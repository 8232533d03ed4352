"""OAuth 2 token endpoint client: code exchange, client credentials and refresh.

Pizzly's integration files choose how client credentials travel (``authorizationMethod``: body or
HTTP Basic header) and how the token request is encoded (``bodyFormat``: form or JSON); the JSON
form is outside what OAuth client libraries send, so the token request is made here with requests,
and the response is read as JSON or as a form (GitHub without an Accept header).
"""

from __future__ import annotations

import json
import math
import secrets
from typing import Any
from urllib.parse import parse_qsl

from chalicelib import outbound
from chalicelib.http import parse_id, parse_json

# Provider errors after which retrying with the same refresh token cannot succeed.
DESTINATION_NOT_ALLOWED = "destination_not_allowed"  # the outbound guard refused the token endpoint's address
DEFINITIVE_ERRORS = frozenset({"invalid_grant", "unauthorized_client", "invalid_client", "unknown_configuration"})


class TokenError(Exception):
    """The token endpoint refused or failed; ``error`` is the provider's code when it gave one."""

    def __init__(self, error: str, description: str, *, status: int | None = None) -> None:
        self.error = error
        self.description = description
        self.status = status
        super().__init__(f"{error}: {description}")

    @property
    def definitive(self) -> bool:
        """Whether the provider rejected the grant itself (reconnecting is the only way on)."""
        return self.error in DEFINITIVE_ERRORS

    def as_dict(self) -> dict[str, Any]:
        return {"error": self.error, "description": self.description, "status": self.status}


def post_to_provider(url: str, who: str, **request: Any) -> Any:
    """POST to an OAuth provider through the outbound guard; TokenError naming ``who`` when it cannot be reached."""
    import requests  # on first use (cold start)

    try:
        return outbound.session().post(url, timeout=outbound.timeout(), allow_redirects=False, **request)
    except outbound.DestinationNotAllowed as e:
        raise TokenError(DESTINATION_NOT_ALLOWED, f"{who}'s address is not allowed.") from e
    except requests.RequestException as e:
        raise TokenError("provider_unreachable", f"{who} could not be reached ({type(e).__name__}).") from e


def token_request(
    auth: dict[str, Any],
    url: str,
    client_id: str,
    client_secret: str,
    params: dict[str, str],
) -> dict[str, Any]:
    """POST a token request as the integration's ``auth`` section says; the provider's JSON answer."""
    body: dict[str, str] = {**auth.get("tokenParams", {}), **params}
    headers = {"Accept": "application/json", "User-Agent": "Keyport"}
    basic: tuple[str, str] | None = None
    if auth.get("authorizationMethod", "body") == "header":
        basic = (client_id, client_secret)
    else:
        body["client_id"] = client_id
        body["client_secret"] = client_secret
    send: dict[str, Any] = {"json": body} if auth.get("bodyFormat") == "json" else {"data": body}
    response = post_to_provider(url, "The token endpoint", headers=headers, auth=basic, **send)
    token = _read(response.text, response.headers.get("content-type", ""))
    if "error" in token:
        description = str(token.get("error_description") or token.get("error_message") or token["error"])
        raise TokenError(str(token["error"]), description[:500], status=response.status_code)
    if response.status_code >= 400:
        raise TokenError(
            "provider_error", f"The token endpoint answered HTTP {response.status_code}.", status=response.status_code
        )
    if not isinstance(token.get("access_token"), str) or not token["access_token"]:
        raise TokenError(
            "invalid_token_response",
            "The token endpoint answered without an access_token.",
            status=response.status_code,
        )
    return token


def refresh(auth: dict[str, Any], client_id: str, client_secret: str, refresh_token: str) -> dict[str, Any]:
    """Exchange a refresh token at ``refreshURL`` (or ``tokenURL``)."""
    url = auth.get("refreshURL") or auth["tokenURL"]
    return token_request(
        auth, url, client_id, client_secret, {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


def client_credentials(auth: dict[str, Any], client_id: str, client_secret: str, scope: Any = None) -> dict[str, Any]:
    """A new token from the client-credentials grant (such integrations have no refresh token)."""
    request = {"grant_type": "client_credentials"}
    if isinstance(scope, str) and scope:
        request["scope"] = scope
    return token_request(auth, auth["tokenURL"], client_id, client_secret, request)


def _read(text: str, content_type: str) -> dict[str, Any]:
    try:
        value = parse_json(text)  # bounded: a provider's answer is outside input too
        if isinstance(value, dict):
            return value
    except ValueError:
        pass
    if "json" not in content_type:
        pairs = dict(parse_qsl(text, keep_blank_values=True))
        if "access_token" in pairs or "error" in pairs:
            return pairs
    return {}


def payload_from_token(token: dict[str, Any], previous: dict[str, Any] | None, now_ms: int) -> dict[str, Any]:
    """Pizzly's OAuth 2 payload from a token response, keeping what the provider did not replace."""
    payload: dict[str, Any] = dict(previous or {})
    payload["accessToken"] = token["access_token"]
    if token.get("refresh_token"):
        payload["refreshToken"] = token["refresh_token"]
    if token.get("id_token"):
        payload["idToken"] = token["id_token"]
    if token.get("token_type"):
        payload["tokenType"] = token["token_type"]
    expires_in = _seconds(token.get("expires_in"))
    if expires_in is not None:
        payload["expiresIn"] = expires_in
    else:
        payload.pop("expiresIn", None)
    if token.get("scope"):
        payload["scope"] = token["scope"]
    payload["tokenResponseJSON"] = json.dumps(token, separators=(",", ":"))
    payload["updatedAt"] = now_ms
    return payload


MAX_EXPIRES_IN = 100 * 365 * 86400  # beyond a century, a lifetime means "does not expire"


def _seconds(value: Any) -> int | None:
    """``expires_in`` as whole seconds: a number, or a string of ASCII digits; None when absent or odd."""
    finite = isinstance(value, float) and math.isfinite(value)
    # ints and ASCII digits only: not "١٢", "²" or 4,301-digit strings
    seconds = int(value) if finite else parse_id(value)
    if seconds is None or not 0 < seconds <= MAX_EXPIRES_IN:
        return None
    return seconds


def authorization_url(
    auth: dict[str, Any],
    url: str,
    client_id: str,
    redirect_uri: str,
    scopes: list[str],
    state: str,
    code_challenge: str | None,
) -> str:
    """Where the user authorizes: the provider's authorization URL with every parameter it needs."""
    from authlib.oauth2.rfc6749.parameters import prepare_grant_uri  # authlib, on first use (cold start)

    extra: dict[str, str] = dict(auth.get("authorizationParams", {}))
    if code_challenge:
        extra.update(code_challenge=code_challenge, code_challenge_method="S256")
    grant_uri: str = prepare_grant_uri(
        url, client_id, "code", redirect_uri=redirect_uri, scope=scopes or None, state=state, **extra
    )
    return grant_uri


def new_pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge."""
    from authlib.oauth2.rfc7636 import create_s256_code_challenge  # authlib, on first use (cold start)

    verifier = secrets.token_urlsafe(48)
    return verifier, create_s256_code_challenge(verifier)
