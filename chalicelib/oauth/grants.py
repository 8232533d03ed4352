"""Renewal with a grant: which OAuth 2 grant gets new tokens without the user, and asking for them."""

from __future__ import annotations

from typing import Any

from chalicelib.oauth import oauth2


def renewable(definition: dict[str, Any], secret: dict[str, Any]) -> bool:
    """Whether new tokens can be had without the user: a refresh token, or a client-credentials grant."""
    return bool(secret.get("refreshToken")) or definition.get("auth", {}).get("grantType") == "client_credentials"


def renew(auth: dict[str, Any], client_id: str, client_secret: str, secret: dict[str, Any]) -> dict[str, Any] | None:
    """The token response of the grant that renews ``secret`` (Pizzly's names), or None when none does."""
    refresh_token = secret.get("refreshToken")
    if isinstance(refresh_token, str) and refresh_token:
        return oauth2.refresh(auth, client_id, client_secret, refresh_token)
    if auth.get("grantType") == "client_credentials":
        return oauth2.client_credentials(auth, client_id, client_secret, secret.get("scope"))
    return None
