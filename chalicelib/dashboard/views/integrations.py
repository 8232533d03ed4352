"""Integrations: the catalog, one integration, its configurations and authentications, custom definitions.

Each page imports the service it shows when it runs: the first dashboard request loads only that one.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from chalice.app import Response

from chalicelib import activity
from chalicelib.dashboard.actions import Question, delete
from chalicelib.dashboard.context import ACTOR, PAGE_SIZE, Ctx, client_address
from chalicelib.errors import KeyportError, NotFound
from chalicelib.http import parse_json
from chalicelib.integrations.routes import callback_url
from chalicelib.settings import get_settings

SAMPLE_DEFINITION = {
    "name": "My API",
    "auth": {
        "authType": "OAUTH2",
        "authorizationURL": "https://example.com/oauth/authorize",
        "tokenURL": "https://example.com/oauth/token",
        "config": {"scope": ["read"]},
    },
    "request": {"baseURL": "https://api.example.com/", "headers": {"Authorization": "Bearer ${auth.accessToken}"}},
}


def _auth_label(definition: dict[str, Any]) -> str:
    auth = definition.get("auth", {})
    if auth.get("authType") == "OAUTH1":
        return "OAuth 1.0a"
    if auth.get("grantType") == "client_credentials":
        return "OAuth 2.0 (client credentials)"
    return "OAuth 2.0"


def _monogram(name: str, key: str) -> dict[str, Any]:
    """Logos of built-in integrations point at outside hosts; the page shows an initial instead."""
    letters = "".join(w[0] for w in name.split()[:2] if w[:1].isalnum()).upper() or key[:1].upper()
    return {"letters": letters[:2], "hue": sum(key.encode()) % 8}


def integrations_page(ctx: Ctx) -> Response:
    from chalicelib.integrations import service

    search = ctx.query("q").strip()
    rows = []
    for view in service.list_integrations():
        name = str(view.get("name") or view["id"])
        rows.append(
            {
                "id": view["id"],
                "name": name,
                "auth": _auth_label(view),
                "source": view["source"],
                "configurations": view["configurations"],
                "monogram": _monogram(name, view["id"]),
                "search": f"{view['id']} {name} {_auth_label(view)} {view['source']}".lower(),
            }
        )
    shown = [r for r in rows if all(word in r["search"] for word in search.lower().split())]
    in_use = sum(1 for r in rows if r["configurations"])
    return ctx.show("integrations.html", rows=shown, total=len(rows), in_use=in_use, q=search, nav="integrations")


def _integration(integration: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from chalicelib.integrations import service

    view = service.get_integration(integration)
    return view, view.get("auth", {})


def _when(value: str | None) -> int | None:
    if not value:
        return None
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def _health(view: dict[str, Any], definition: dict[str, Any], now: int) -> dict[str, Any]:
    """Refresh health as text and tone: what the refresh bookkeeping says, and when the next refresh is due."""
    from chalicelib.oauth import due, grants

    refresh = view["refresh"]
    renewable = grants.renewable(definition, view["payload"])
    expires = _when(view["expires_at"])
    next_refresh: int | None = _when(refresh["next_attempt_at"])
    if next_refresh is None and renewable and expires is not None:
        next_refresh = expires - due.buffer_ms(definition)
    if refresh["needs_reconnect"]:
        status, tone = "Needs reconnect", "bad"
    elif refresh["attempts"]:
        status, tone = "Retrying", "warn"
    elif expires is not None and expires <= now:
        status, tone = ("Expired, refresh due", "warn") if renewable else ("Expired", "bad")
    else:
        status, tone = "Healthy", "good"
    error = refresh.get("last_error") or None
    return {
        "status": status,
        "tone": tone,
        "renewable": renewable,
        "next_refresh": next_refresh,
        "attempts": refresh["attempts"],
        "last_error": error,
        "needs_reconnect": refresh["needs_reconnect"],
    }


def _authentication_row(view: dict[str, Any], definition: dict[str, Any], now: int) -> dict[str, Any]:
    """An authentication without its payload: what a list may show."""
    return {
        "id": view["id"],
        "setup_id": view["setup_id"],
        "created_at": view["created_at"],
        "updated_at": view["updated_at"],
        "expires_at": view["expires_at"],
        "connect_params": view["connect_params"],
        "health": _health(view, definition, now),
    }


def _connect_url(ctx: Ctx, integration: str, setup_id: str) -> str:
    query = {"setupId": setup_id}
    publishable = get_settings().publishable_key
    if publishable:
        query["pizzly_pkey"] = publishable  # the publishable key is meant for browsers
    return f"{ctx.prefix}/auth/{quote(integration, safe='')}?{urlencode(query)}"


def integration_page(
    ctx: Ctx, integration: str, form_errors: dict[str, Any] | None = None, status: int = 200
) -> Response:
    from chalicelib.integrations import service

    view, auth = _integration(integration)
    configurations = service.list_configurations(integration, 100, None)["data"]
    for configuration in configurations:
        configuration["connect_url"] = _connect_url(ctx, integration, configuration["id"])
    setup_filter = ctx.query("setup_id") or None
    listed = service.list_authentications(integration, setup_filter, PAGE_SIZE, ctx.query("cursor") or None)
    rows = [_authentication_row(a, view, ctx.now) for a in listed["data"]]
    oauth1 = auth.get("authType") == "OAUTH1"
    return ctx.show(
        "integration.html",
        status,
        nav="integrations",
        integration=view,
        auth=auth,
        auth_label=_auth_label(view),
        mono=_monogram(str(view.get("name") or integration), integration),
        callback_url=callback_url(),
        configurations=configurations,
        authentications=rows,
        next_cursor=listed["next_cursor"],
        setup_filter=setup_filter,
        oauth1=oauth1,
        credential_names=("consumerKey", "consumerSecret") if oauth1 else ("clientId", "clientSecret"),
        form_errors=form_errors or {},
    )


def _scopes(text: str) -> list[str]:
    return [s for s in text.replace(",", " ").split() if s]


def configuration_save(ctx: Ctx, integration: str, setup_id: str | None = None) -> Response:
    from chalicelib.integrations import service

    _, auth = _integration(integration)
    names = ("consumerKey", "consumerSecret") if auth.get("authType") == "OAUTH1" else ("clientId", "clientSecret")
    body = {
        "credentials": {names[0]: ctx.form.get("client_id", ""), names[1]: ctx.form.get("client_secret", "")},
        "scopes": _scopes(ctx.form.get("scopes", "")),
    }
    try:
        if setup_id is None:
            saved = service.create_configuration(integration, body)
        else:
            saved = service.update_configuration(integration, setup_id, body)
    except (service.InvalidCredentials, service.InvalidScopes) as e:
        where = "scopes" if isinstance(e, service.InvalidScopes) else "credentials"
        errors = {"form": setup_id or "new", where: e.message, "values": {"scopes": ctx.form.get("scopes", "")}}
        return integration_page(ctx, integration, errors, e.status)
    activity.record("configuration.saved", ACTOR, f"{integration}/{saved['id']}")
    return ctx.back("integrations", integration, notice="configuration_saved")


def configuration_delete(ctx: Ctx, integration: str, setup_id: str) -> Response:
    from chalicelib.integrations import service

    def question() -> Question:
        count = service.count_authentications(integration, setup_id)
        going = "no authentication goes" if count == 0 else f"{count} authentication{'s' if count != 1 else ''} go"
        message = (
            f"Configuration {setup_id} of {integration} will be deleted, and {going} with it. "
            "Applications using those authentications will have to connect again."
        )
        return Question(
            "Delete this configuration?", message, "Delete configuration", ctx.url("integrations", integration)
        )

    back = ctx.back("integrations", integration, notice="configuration_deleted")
    return delete(
        ctx, question, lambda: service.delete_configuration(integration, setup_id), "configuration.deleted", back
    )


# --- authentications -------------------------------------------------------------------------------


def authentication_page(
    ctx: Ctx, integration: str, auth_id: str, revealed: bool = False, error: Any = None
) -> Response:
    from chalicelib.integrations import service

    view, _ = _integration(integration)
    item = service.get_authentication(integration, auth_id)
    row = _authentication_row(item, view, ctx.now)
    payload = item["payload"] if revealed else None
    return ctx.show(
        "authentication.html",
        error.status if error is not None else 200,
        nav="integrations",
        integration=view,
        authentication=row,
        payload=payload,
        error=error,
    )


def authentication_reveal(ctx: Ctx, integration: str, auth_id: str) -> Response:
    answer = authentication_page(ctx, integration, auth_id, revealed=True)
    activity.record("authentication.revealed", f"{ACTOR} ({client_address(ctx)})", f"{integration}/{auth_id}")
    return answer


def authentication_refresh(ctx: Ctx, integration: str, auth_id: str) -> Response:
    from chalicelib.integrations import service

    try:
        service.refresh_authentication(integration, auth_id)
    except KeyportError as e:
        if isinstance(e, NotFound):
            raise
        return authentication_page(ctx, integration, auth_id, error=e)
    return ctx.back("integrations", integration, "authentications", auth_id, notice="authentication_refreshed")


def authentication_delete(ctx: Ctx, integration: str, auth_id: str) -> Response:
    from chalicelib.integrations import service

    def question() -> Question:
        service.get_authentication(integration, auth_id)  # 404 for an unknown one
        message = (
            f"Authentication {auth_id} of {integration} and its tokens will be deleted. "
            "The application that uses it will have to connect the account again."
        )
        cancel = ctx.url("integrations", integration, "authentications", auth_id)
        return Question("Delete this authentication?", message, "Delete authentication", cancel)

    back = ctx.back("integrations", integration, notice="authentication_deleted")
    return delete(
        ctx, question, lambda: service.delete_authentication(integration, auth_id), "authentication.deleted", back
    )


# --- custom integrations -------------------------------------------------------------------------------


def definition_page(ctx: Ctx, integration: str | None = None) -> Response:
    from chalicelib import catalog
    from chalicelib.integrations import service

    source = None
    if not ctx.posted:
        if integration is None:
            text = json.dumps(SAMPLE_DEFINITION, indent=2)
        else:
            view = service.get_integration(integration)
            source = view["source"]
            text = json.dumps({k: v for k, v in view.items() if k not in ("object", "id", "source")}, indent=2)
        return ctx.show(
            "definition.html",
            nav="integrations",
            integration=integration,
            text=text,
            source=source,
            errors={},
            new_id="",
        )
    new_id = ctx.form.get("id", "").strip() if integration is None else integration
    text = ctx.form.get("definition", "")
    errors: dict[str, str] = {}
    if integration is None and not catalog.valid_id(new_id):
        errors["id"] = "An id is 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit."
    try:
        body = parse_json(text)
    except ValueError as e:  # malformed, or beyond the limits of every request body
        errors["definition"] = f"This is not valid JSON: {e}"
    if not errors:
        if not isinstance(body, dict):
            errors["definition"] = "The definition must be a JSON object."
        else:
            try:
                service.put_integration(new_id, body)
            except catalog.InvalidIntegration as e:
                errors["definition"] = e.message
    if errors:
        return ctx.show(
            "definition.html",
            400,
            nav="integrations",
            integration=integration,
            text=text,
            source=None,
            errors=errors,
            new_id=new_id,
        )
    return ctx.back("integrations", new_id, notice="definition_saved")


def definition_delete(ctx: Ctx, integration: str) -> Response:
    from chalicelib.integrations import service

    def question() -> Question:
        if service.get_integration(integration)["source"] != "custom":
            raise service.BuiltinIntegration()
        message = (
            f"The custom definition of {integration} will be deleted. If it replaced a built-in "
            "integration, the built-in definition comes back; otherwise its configurations stop working."
        )
        return Question(
            "Delete this custom integration?", message, "Delete integration", ctx.url("integrations", integration)
        )

    back = ctx.back(notice="definition_deleted")
    return delete(ctx, question, lambda: service.delete_integration(integration), "definition.deleted", back)
