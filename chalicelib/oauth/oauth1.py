"""OAuth 1.0a client side (request token, authorization, access token, signing) on authlib."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from chalicelib.oauth.oauth2 import TokenError, post_to_provider

FORM = "application/x-www-form-urlencoded"


def _client(auth: dict[str, Any], consumer_key: str, consumer_secret: str, **kwargs: Any) -> Any:
    from authlib.oauth1.rfc5849.client_auth import ClientAuth  # authlib, on first use (cold start)

    method = auth.get("signatureMethod", "HMAC-SHA1")
    if method == "RSA-SHA1":
        # The consumer secret of an RSA-SHA1 configuration is the PEM private key.
        return ClientAuth(consumer_key, rsa_key=consumer_secret, signature_method=method, **kwargs)
    return ClientAuth(consumer_key, client_secret=consumer_secret, signature_method=method, **kwargs)


def sign(
    auth: dict[str, Any],
    consumer_key: str,
    consumer_secret: str,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    *,
    token: str | None = None,
    token_secret: str | None = None,
) -> tuple[str, dict[str, str], bytes]:
    """Sign a request over its final URL, query and (form) body; the signed URL, headers and body."""
    client = _client(auth, consumer_key, consumer_secret, token=token, token_secret=token_secret)
    # authlib finds the form body by the exact header name "Content-Type", and reads it as text.
    prepared = {("Content-Type" if k.lower() == "content-type" else k): v for k, v in headers.items()}
    form = FORM in prepared.get("Content-Type", "")
    signed_url, signed_headers, signed_body = client.prepare(
        method, url, prepared, body.decode("utf-8", "replace") if form else body
    )
    if isinstance(signed_body, str):
        signed_body = signed_body.encode()
    return signed_url, signed_headers, signed_body or body


def _token_call(client: Any, url: str, extra: dict[str, str]) -> dict[str, str]:
    body = urlencode(extra)
    signed_url, headers, signed_body = client.prepare("POST", url, {"Content-Type": FORM}, body)
    accept = {"Accept": "application/x-www-form-urlencoded, application/json"}
    response = post_to_provider(signed_url, "The OAuth 1.0a provider", data=signed_body, headers={**headers, **accept})
    values = dict(parse_qsl(response.text, keep_blank_values=True))
    if response.status_code >= 400 or "oauth_token" not in values:
        reason = response.text.strip()[:300] or f"HTTP {response.status_code}"
        raise TokenError("provider_error", f"The OAuth 1.0a provider refused: {reason}", status=response.status_code)
    return values


def request_token(auth: dict[str, Any], urls: dict[str, str], key: str, secret: str, callback: str) -> dict[str, str]:
    """Step 1: a request token (``oauth_token``, ``oauth_token_secret``) for ``callback``."""
    client = _client(auth, key, secret, redirect_uri=callback)
    return _token_call(client, urls["requestTokenURL"], dict(auth.get("tokenParams", {})))


def authorize_url(auth: dict[str, Any], urls: dict[str, str], oauth_token: str) -> str:
    """Step 2: where the user authorizes the request token."""
    parts = urlsplit(urls["userAuthorizationURL"])
    query = [*parse_qsl(parts.query), *auth.get("authorizationParams", {}).items(), ("oauth_token", oauth_token)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def access_token(
    auth: dict[str, Any], urls: dict[str, str], key: str, secret: str, token: str, token_secret: str, verifier: str
) -> dict[str, str]:
    """Step 3: the access token for an authorized request token."""
    client = _client(auth, key, secret, token=token, token_secret=token_secret, verifier=verifier)
    return _token_call(client, urls["accessTokenURL"], {})


def payload_from_token(values: dict[str, str], now_ms: int) -> dict[str, Any]:
    """Pizzly's OAuth 1.0a payload: the token, its secret, and what else the provider returned."""
    extras = {k: v for k, v in values.items() if k not in ("oauth_token", "oauth_token_secret")}
    return {
        "oAuthToken": values["oauth_token"],
        "oAuthTokenSecret": values["oauth_token_secret"],
        **({"tokenResponse": extras} if extras else {}),
        "updatedAt": now_ms,
    }
