"""The connect flow: ``/auth/{integration}`` starts it, ``/auth/callback`` ends it (pizzly-js compatible).

OAuth 2 authorization code with a random single-use ``state`` bound to the flow and stored server-side
for a few minutes, and PKCE S256 unless the integration opts out; OAuth 2 client credentials at once;
OAuth 1.0a with the request-token secret kept server-side between the two legs. Reconnecting with an
existing authId updates that authentication.
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from pynamodb.exceptions import UpdateError

from chalicelib import activity, catalog, outbound
from chalicelib.crypto import open_json, same, seal_json
from chalicelib.dynamo import is_conditional_failure, translated
from chalicelib.errors import BadRequest, KeyportError, Unauthorized
from chalicelib.http import now_ms
from chalicelib.integrations import ids, repository, service
from chalicelib.integrations.models import Authentication, OAuthState
from chalicelib.integrations.params import connect_params
from chalicelib.integrations.payload import set_payload
from chalicelib.oauth import oauth1, oauth2, providers
from chalicelib.secret_keys import publishable_key
from chalicelib.settings import get_settings

_T = TypeVar("_T")

STATE_TTL_MS = 10 * 60 * 1000
STATE_PURPOSE = "integrations/oauth-state"


class InvalidState(BadRequest):
    code = "invalid_state"
    default_message = "This authorization is unknown, already used or expired; start the connection again."


class ProviderDenied(BadRequest):
    code = "authorization_denied"


@dataclass
class Outcome:
    """What a connect step answers: a redirect, or a page telling the opener how it went."""

    status: int
    redirect: str | None = None
    event: dict[str, Any] = field(default_factory=dict)


def success(auth_id: str, integration_id: str) -> Outcome:
    """The page of a connection made (pizzly-js spells the event type this way)."""
    data = {"authId": auth_id, "integration": integration_id}
    return Outcome(200, event={"eventType": "AUTHORIZATION_SUCEEDED", "data": data})


def failure(error: KeyportError) -> Outcome:
    """The page of a connection that failed."""
    data = {"error": {"type": error.error_code, "message": error.message}}
    return Outcome(error.status, event={"eventType": "AUTHORIZATION_FAILED", "data": data})


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _check_publishable_key(query: dict[str, str]) -> None:
    expected = publishable_key()
    if not expected:
        return
    given = query.get("pizzly_pkey", "")
    if not given:
        raise Unauthorized("A publishable key (pizzly_pkey) is required.", code="missing_publishable_key")
    if not same(given, expected):
        raise Unauthorized("The publishable key is not valid.", code="invalid_publishable_key")


def _urls(auth: dict[str, Any], params: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    urls = {n: catalog.fill(auth[n], {"connectParams": params}) for n in names if auth.get(n)}
    allow_loopback = get_settings().allow_http_loopback
    if not all(outbound.host_allowed(urlsplit(u).hostname or "", allow_loopback=allow_loopback) for u in urls.values()):
        raise outbound.DestinationNotAllowed()
    return urls


def _token_failure(error: oauth2.TokenError, what: str) -> KeyportError:
    """The connect flow's error for a failed token call: the provider's refusal, or a refused address."""
    if error.error == oauth2.DESTINATION_NOT_ALLOWED:
        return outbound.DestinationNotAllowed()
    return BadRequest(
        f"The provider refused the {what}: {error.error} ({error.description})", code="token_exchange_failed"
    )


def _scopes(definition: dict[str, Any], configured: list[str]) -> list[str]:
    return list(configured) or list(definition["auth"].get("config", {}).get("scope", []))


def start(integration_id: str, query: dict[str, str], callback_url: str) -> Outcome:
    """GET /auth/{integration}: redirect to the provider (or finish at once for client credentials)."""
    _check_publishable_key(query)
    definition = catalog.get(integration_id)
    params = connect_params(query)
    setup_id = query.get("setupId") or query.get("setup_id")
    configuration = (
        service.configuration_of(integration_id, setup_id)
        if setup_id
        else providers.latest_configuration(integration_id)
    )
    if configuration is None:
        hint = f"save one with POST /api/{integration_id}/configurations"
        raise BadRequest(f"'{integration_id}' has no configuration yet: {hint}.", code="missing_configuration")
    auth_id = query.get("authId") or query.get("auth_id") or str(uuid.uuid4())
    existing = repository.get_authentication(auth_id) if len(auth_id) <= 128 else None
    if existing is not None and existing.integration != integration_id:
        raise BadRequest("This authId belongs to another integration.", code="invalid_auth_id")
    if not ids.auth_id_allowed(auth_id):
        raise BadRequest("authId must be a UUID or letters, digits, '-' and '_'.", code="invalid_auth_id")
    auth = definition["auth"]
    client_id, client_secret = providers.client_credentials(configuration)
    if catalog.auth_type(definition) == catalog.OAUTH1:
        return _start_oauth1(
            integration_id, auth, configuration.id, auth_id, params, client_id, client_secret, callback_url
        )
    scopes = _scopes(definition, [str(s) for s in configuration.scopes or []])
    urls = _urls(auth, params, ("authorizationURL", "tokenURL"))
    if auth.get("grantType") == "client_credentials":
        request: dict[str, str] = {"grant_type": "client_credentials"}
        if scopes:
            request["scope"] = _scope_string(auth, scopes)
        token = _exchanged(lambda: oauth2.token_request(auth, urls["tokenURL"], client_id, client_secret, request))
        _store(integration_id, configuration.id, auth_id, params, oauth2.payload_from_token(token, None, now_ms()))
        return success(auth_id, integration_id)
    state = secrets.token_urlsafe(32)
    verifier, challenge = oauth2.new_pkce_pair() if auth.get("pkce", True) else (None, None)
    _save_state(state, integration_id, configuration.id, auth_id, params, callback_url, {"code_verifier": verifier})
    scope_param = [_scope_string(auth, scopes)] if scopes else []
    location = oauth2.authorization_url(
        auth, urls["authorizationURL"], client_id, callback_url, scope_param, state, challenge
    )
    return Outcome(302, redirect=location)


def _scope_string(auth: dict[str, Any], scopes: list[str]) -> str:
    separator = auth.get("config", {}).get("scopeSeparator", " ")
    return str(separator).join(scopes)


def _start_oauth1(
    integration_id: str,
    auth: dict[str, Any],
    setup_id: str,
    auth_id: str,
    params: dict[str, str],
    key: str,
    secret: str,
    callback_url: str,
) -> Outcome:
    state = secrets.token_urlsafe(32)
    urls = _urls(auth, params, ("requestTokenURL", "userAuthorizationURL", "accessTokenURL"))
    callback = f"{callback_url}?{urlencode({'state': state})}"
    values = _exchanged(lambda: oauth1.request_token(auth, urls, key, secret, callback))
    _save_state(
        state,
        integration_id,
        setup_id,
        auth_id,
        params,
        callback_url,
        {"oauth_token_secret": values["oauth_token_secret"]},
    )
    return Outcome(302, redirect=oauth1.authorize_url(auth, urls, values["oauth_token"]))


def _exchanged(call: Callable[[], _T]) -> _T:
    """A token-endpoint call whose refusal becomes the failure page's error, not a 500."""
    try:
        return call()
    except oauth2.TokenError as e:
        raise _token_failure(e, "token request") from e


def _save_state(
    state: str,
    integration_id: str,
    setup_id: str,
    auth_id: str,
    params: dict[str, str],
    redirect_uri: str,
    secret: dict[str, Any],
) -> None:
    now = now_ms()
    state_id = _hash(state)
    item = OAuthState(
        state_id,
        integration=integration_id,
        setup_id=setup_id,
        auth_id=auth_id,
        redirect_uri=redirect_uri,
        connect_params=params or None,
        secret=seal_json(secret, purpose=STATE_PURPOSE, record=state_id),
        created_at=now,
        expires_at=now + STATE_TTL_MS,
    )
    item.ttl = datetime.fromtimestamp((now + STATE_TTL_MS) / 1000 + 3600, tz=UTC)
    with translated():
        item.save()


def _consume_state(state: str) -> tuple[OAuthState, dict[str, Any]]:
    """Mark a state used (once, atomically) and return it with its secret; InvalidState otherwise."""
    if not state or len(state) > 200:
        raise InvalidState()
    now = now_ms()
    item = OAuthState(_hash(state))
    try:
        with translated():
            item.update(
                actions=[OAuthState.used_at.set(now)],
                condition=OAuthState.id.exists() & OAuthState.used_at.does_not_exist() & (OAuthState.expires_at > now),
            )
    except UpdateError as e:
        if is_conditional_failure(e):
            raise InvalidState() from e
        raise
    return item, open_json(item.secret, purpose=STATE_PURPOSE, record=item.id) if item.secret else {}


def callback(query: dict[str, str]) -> Outcome:
    """GET /auth/callback: check the state, exchange the code (or verifier), store the authentication."""
    state_item, secret = _consume_state(query.get("state", ""))
    integration_id = state_item.integration
    if query.get("error"):
        description = query.get("error_description") or query["error"]
        raise ProviderDenied(
            f"The provider answered: {query['error']} ({description[:300]})", code="authorization_denied"
        )
    definition = catalog.get(integration_id)
    configuration = service.configuration_of(integration_id, state_item.setup_id)
    client_id, client_secret = providers.client_credentials(configuration)
    params = dict(state_item.connect_params or {})
    auth = definition["auth"]
    now = now_ms()
    try:
        if catalog.auth_type(definition) == catalog.OAUTH1:
            token, verifier = query.get("oauth_token", ""), query.get("oauth_verifier", "")
            if not token or not verifier:
                raise BadRequest("The provider returned no oauth_token and oauth_verifier.", code="invalid_callback")
            urls = _urls(auth, params, ("requestTokenURL", "userAuthorizationURL", "accessTokenURL"))
            values = oauth1.access_token(
                auth, urls, client_id, client_secret, token, secret.get("oauth_token_secret", ""), verifier
            )
            payload = oauth1.payload_from_token(values, now)
        else:
            code = query.get("code", "")
            if not code:
                raise BadRequest("The provider returned no authorization code.", code="invalid_callback")
            request = {"grant_type": "authorization_code", "code": code, "redirect_uri": state_item.redirect_uri}
            if secret.get("code_verifier"):
                request["code_verifier"] = secret["code_verifier"]
            url = _urls(auth, params, ("tokenURL",))["tokenURL"]
            payload = oauth2.payload_from_token(
                oauth2.token_request(auth, url, client_id, client_secret, request), None, now
            )
    except oauth2.TokenError as e:
        raise _token_failure(e, "token exchange") from e
    _store(integration_id, configuration.id, state_item.auth_id, params, payload)
    return success(state_item.auth_id, integration_id)


def _store(integration_id: str, setup_id: str, auth_id: str, params: dict[str, str], payload: dict[str, Any]) -> None:
    """Create the authentication, or update it in place when reconnecting."""
    definition = catalog.get(integration_id)
    now = now_ms()
    existing = repository.get_authentication(auth_id, consistent=True)
    if existing is not None and existing.integration != integration_id:
        raise BadRequest("This authId belongs to another integration.", code="invalid_auth_id")
    item = existing or Authentication(auth_id, integration=integration_id, created_at=now)
    item.setup_id = setup_id
    item.connect_params = params or None
    set_payload(item, definition, {k: v for k, v in payload.items() if k != "updatedAt"}, now)
    item.lease_id = None
    item.lease_until = None
    repository.save_authentication(item)
    kind = "authentication.created" if existing is None else "authentication.reconnected"
    activity.record(kind, "connect flow", f"{integration_id}/{auth_id}")


def page(outcome: Outcome) -> bytes:
    """The page that tells the opener (pizzly-js) how the connection went, then closes itself."""
    nonce = secrets.token_urlsafe(16)
    message = json.dumps(outcome.event).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    origins = json.dumps(list(get_settings().allowed_origins) or ["*"])
    succeeded = outcome.event.get("eventType") == "AUTHORIZATION_SUCEEDED"
    if succeeded:
        text = "The connection succeeded. You can close this window."
    else:
        text = "The connection failed: " + str(outcome.event["data"]["error"]["message"])
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Keyport</title>'
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'nonce-{nonce}'\">"
        f"</head><body><p>{html.escape(text)}</p>"
        f'<script nonce="{nonce}">(function () {{ var message = {message}; var origins = {origins};'
        " if (window.opener) { origins.forEach(function (origin) { window.opener.postMessage(message, origin); }); }"
        # pizzly-js treats a popup closed before the message arrives as cancelled: close a moment later.
        " setTimeout(function () { window.close(); }, 300); })();</script></body></html>\n"
    ).encode()
