"""The dashboard's pages: authenticate the browser, check forms, call the services' own functions, render.

Every change goes through the function the matching REST route calls (``integrations.service``,
``broker.service``, ``publishing.accounts``, ``entities.accounts``), so validation and errors are the
API's. A page never holds a token value or an unmasked client secret, except the payload a "Reveal"
post answers with (logged as an activity) and a key just issued (shown once).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from chalice.app import Request, Response

from chalicelib.dashboard import activity, render, sessions
from chalicelib.errors import BadRequest, Forbidden, KeyportError, NotFound
from chalicelib.http import now_ms, parse_json, raw_body
from chalicelib.settings import get_settings

PAGE_SIZE = 25
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
ACTOR = "dashboard"

NOTICES = {
    "configuration_saved": "Configuration saved.",
    "configuration_deleted": "Configuration deleted, with its authentications.",
    "authentication_refreshed": "Authentication refreshed.",
    "authentication_deleted": "Authentication deleted.",
    "connected": "Account connected: this is the new authentication.",
    "definition_saved": "Integration definition saved.",
    "definition_deleted": "Custom integration deleted.",
    "customer_deleted": "Customer deleted, with its instances and connections.",
    "instance_deleted": "Instance deleted.",
    "user_saved": "User saved.",
    "group_created": "Group created.",
    "member_saved": "Member saved.",
    "member_removed": "Member removed.",
    "user_created": "User created.",
    "user_deleted": "User deleted.",
    "group_deleted": "Group deleted.",
    "signed_out": "You are signed out.",
}

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


@dataclass
class Ctx:
    """One dashboard request: where the dashboard lives, who is signed in, the posted form."""

    request: Request
    prefix: str  # the API Gateway stage path ("" locally, "/api" on a default deployment)
    origin: str
    secure: bool
    now: int
    session: Any = None
    form: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.prefix + "/dashboard"

    @property
    def posted(self) -> bool:
        return self.request.method == "POST"

    def url(self, *parts: str, **query: Any) -> str:
        """A dashboard URL from path segments (each escaped) and query parameters (empty ones dropped)."""
        path = self.base + "".join("/" + quote(str(p), safe="") for p in parts)
        params = {k: v for k, v in query.items() if v not in (None, "")}
        return path + ("?" + urlencode(params) if params else "")

    def query(self, name: str) -> str:
        params = self.request.query_params
        return str(params.get(name) or "") if params else ""

    def show(self, template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> Response:
        notice = NOTICES.get(self.query("notice"))
        return render.page(
            template,
            status,
            headers,
            ctx=self,
            base=self.base,
            csrf=self.session.csrf if self.session is not None else "",
            notice=notice,
            nav=context.pop("nav", ""),
            **context,
        )

    def back(self, *parts: str, **query: Any) -> Response:
        return render.redirect(self.url(*parts, **query))


# --- the request's way ------------------------------------------------------------------------------


def _context(request: Request) -> Ctx:
    """Where this dashboard is served: PUBLIC_URL when set (its origin and path), else this request's."""
    settings = get_settings()
    if settings.public_url:
        parts = urlsplit(settings.public_url)
        origin, prefix = f"{parts.scheme}://{parts.netloc}", parts.path
    else:
        proto = request.headers.get("x-forwarded-proto", "https")
        origin = f"{proto}://{request.headers.get('host', 'localhost')}"
        full_path = str(request.context.get("path") or "")
        event_path = _event_path(request)
        prefix = full_path[: -len(event_path)] if event_path and full_path.endswith(event_path) else ""
    return Ctx(request, prefix.rstrip("/"), origin, origin.startswith("https://"), now_ms())


def _event_path(request: Request) -> str:
    """The request's path without the stage (API Gateway's ``path``; the test client has only the context's)."""
    return str(request.to_original_event().get("path") or request.context.get("path") or request.path)


def _cookie(request: Request) -> str | None:
    for part in request.headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == sessions.COOKIE:
            return value
    return None


def _session_cookie(ctx: Ctx, value: str, max_age: int) -> str:
    cookie = f"{sessions.COOKIE}={value}; Path={ctx.base}; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    return cookie + ("; Secure" if ctx.secure else "")


def _read_form(ctx: Ctx) -> None:
    content_type = ctx.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPES[0]:
        raise BadRequest("Dashboard forms post application/x-www-form-urlencoded.", code="invalid_form")
    text = raw_body(ctx.request).decode("utf-8", errors="replace")
    ctx.form = dict(parse_qsl(text, keep_blank_values=True))


def _same_origin(ctx: Ctx) -> None:
    """Refuse a post from another site: its Origin (or, without one, Sec-Fetch-Site) must be ours."""
    origin = ctx.request.headers.get("origin")
    if origin is not None:
        if origin != ctx.origin:
            raise Forbidden("This form was posted from another site.", code="cross_site_post")
        return
    site = ctx.request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Forbidden("This form was posted from another site.", code="cross_site_post")


def handle(request: Request, name: str, params: dict[str, str]) -> Response:
    """Answer one dashboard route."""
    ctx = _context(request)
    try:
        if name == "static":
            answer = render.static(params["name"], ctx.query("v") or None)
            if answer is None:
                raise NotFound("No such file.", code="missing")
            return answer
        if name == "sign_in":
            return sign_in(ctx)
        if not sessions.configured():
            return render.redirect(ctx.url("sign-in"))
        ctx.session = sessions.session_of(_cookie(request), ctx.now)
        if ctx.session is None:
            if ctx.posted:
                raise Forbidden("Your session has ended; sign in again.", code="no_session")
            path = _event_path(request)
            return render.redirect(ctx.url("sign-in", next=path if path != "/dashboard" else None))
        if ctx.posted:
            _same_origin(ctx)
            _read_form(ctx)
            if not sessions.token_matches(ctx.session, ctx.form.get("csrf_token")):
                raise Forbidden("This form's token is missing or stale; reload the page and try again.", code="csrf")
        return PAGES[name](ctx, **params)
    except KeyportError as e:
        if e.status >= 500:
            from chalicelib.errors import log

            log.error("dashboard request %s failed: %s", request.context.get("requestId"), e.error_code, exc_info=e)
        if ctx.session is not None:
            return ctx.show("error.html", e.status, e.headers, error=e)
        return render.error_page(e.status, e.error_code, e.message, e.headers)


# --- sign-in --------------------------------------------------------------------------------------


def _client(ctx: Ctx) -> str:
    identity = ctx.request.context.get("identity") or {}
    return str(identity.get("sourceIp") or "unknown")


def _next(ctx: Ctx, value: str) -> str:
    """Where to go after signing in: a dashboard path of this site only."""
    if value.startswith("/dashboard") and "//" not in value and "\\" not in value:
        return ctx.prefix + value
    return ctx.base


def sign_in(ctx: Ctx) -> Response:
    if not sessions.configured():
        return ctx.show("sign_in.html", 503, closed=True, error=None, next="")
    next_path = ctx.query("next")
    if not ctx.posted:
        if sessions.session_of(_cookie(ctx.request), ctx.now) is not None:
            return render.redirect(_next(ctx, next_path))
        return ctx.show("sign_in.html", closed=False, error=None, next=next_path)
    _same_origin(ctx)
    _read_form(ctx)
    next_path = ctx.form.get("next", "")
    try:
        value, _ = sessions.sign_in(ctx.form.get("secret_key", ""), _client(ctx), ctx.now)
    except (sessions.WrongKey, sessions.SignInLocked) as e:
        if isinstance(e, sessions.WrongKey):
            activity.record("dashboard.sign_in_refused", f"{ACTOR} ({_client(ctx)})", "dashboard", "wrong secret key")
        return ctx.show("sign_in.html", e.status, e.headers, closed=False, error=e.message, next=next_path)
    activity.record("dashboard.signed_in", f"{ACTOR} ({_client(ctx)})", "dashboard")
    return render.redirect(_next(ctx, next_path), [_session_cookie(ctx, value, sessions.SESSION_SECONDS)])


def sign_out(ctx: Ctx) -> Response:
    sessions.sign_out(ctx.session)
    activity.record("dashboard.signed_out", f"{ACTOR} ({_client(ctx)})", "dashboard")
    return render.redirect(ctx.url("sign-in", notice="signed_out"), [_session_cookie(ctx, "", 0)])


# --- integrations ---------------------------------------------------------------------------------


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


def _callback_url() -> str:
    from chalicelib.integrations.routes import callback_url

    return callback_url()


def _when(value: str | None) -> int | None:
    if not value:
        return None
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def _health(view: dict[str, Any], definition: dict[str, Any], now: int) -> dict[str, Any]:
    """Refresh health as text and tone: what the refresh bookkeeping says, and when the next refresh is due."""
    from chalicelib.integrations import service

    refresh = view["refresh"]
    renewable = service.renewable(definition, view["payload"])
    expires = _when(view["expires_at"])
    next_refresh: int | None = _when(refresh["next_attempt_at"])
    if next_refresh is None and renewable and expires is not None:
        next_refresh = expires - service.buffer_ms(definition)
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
        callback_url=_callback_url(),
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

    if not ctx.posted:
        count = service.count_authentications(integration, setup_id)
        going = "no authentication goes" if count == 0 else f"{count} authentication{'s' if count != 1 else ''} go"
        return _confirm(
            ctx,
            title="Delete this configuration?",
            message=f"Configuration {setup_id} of {integration} will be deleted, and {going} with it. "
            "Applications using those authentications will have to connect again.",
            action=ctx.url("integrations", integration, "configurations", setup_id, "delete"),
            button="Delete configuration",
            cancel=ctx.url("integrations", integration),
        )
    service.delete_configuration(integration, setup_id)
    activity.record("configuration.deleted", ACTOR, f"{integration}/{setup_id}")
    return ctx.back("integrations", integration, notice="configuration_deleted")


def _confirm(ctx: Ctx, **context: Any) -> Response:
    return ctx.show("confirm.html", **context)


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
    activity.record("authentication.revealed", f"{ACTOR} ({_client(ctx)})", f"{integration}/{auth_id}")
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

    if not ctx.posted:
        service.get_authentication(integration, auth_id)  # 404 for an unknown one
        return _confirm(
            ctx,
            title="Delete this authentication?",
            message=f"Authentication {auth_id} of {integration} and its tokens will be deleted. "
            "The application that uses it will have to connect the account again.",
            action=ctx.url("integrations", integration, "authentications", auth_id, "delete"),
            button="Delete authentication",
            cancel=ctx.url("integrations", integration, "authentications", auth_id),
        )
    service.delete_authentication(integration, auth_id)
    activity.record("authentication.deleted", ACTOR, f"{integration}/{auth_id}")
    return ctx.back("integrations", integration, notice="authentication_deleted")


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

    if not ctx.posted:
        view = service.get_integration(integration)
        if view["source"] != "custom":
            raise service.BuiltinIntegration()
        return _confirm(
            ctx,
            title="Delete this custom integration?",
            message=f"The custom definition of {integration} will be deleted. If it replaced a built-in "
            "integration, the built-in definition comes back; otherwise its configurations stop working.",
            action=ctx.url("integrations", integration, "definition", "delete"),
            button="Delete integration",
            cancel=ctx.url("integrations", integration),
        )
    service.delete_integration(integration)
    return ctx.back(notice="definition_deleted")


# --- credential broker ------------------------------------------------------------------------------


def _secret_once(ctx: Ctx, **context: Any) -> Response:
    return ctx.show("secret_once.html", 201, **context)


def broker_page(ctx: Ctx) -> Response:
    from chalicelib.broker import service

    error = None
    if ctx.posted:
        try:
            created = service.create_customer({"name": ctx.form.get("name", "")})
        except KeyportError as e:
            error = e
        else:
            return _secret_once(
                ctx,
                nav="broker",
                title=f"Customer {created['name']} created",
                label="API key",
                secret=created["api_key"],
                note="Give this key to the customer now: it is shown only this once and stored only as a hash.",
                next_url=ctx.url("broker", "customers", created["id"]),
                next_label="Open the customer",
            )
    listed = service.list_customers(PAGE_SIZE, ctx.query("cursor") or None)
    return ctx.show(
        "broker.html",
        error.status if error else 200,
        nav="broker",
        customers=listed["data"],
        next_cursor=listed["next_cursor"],
        error=error,
    )


def customer_page(ctx: Ctx, customer_id: str) -> Response:
    from chalicelib.broker import service

    error = None
    if ctx.posted:
        try:
            created = service.create_instance(customer_id, {"name": ctx.form.get("name", "")})
        except KeyportError as e:
            if isinstance(e, NotFound):
                raise
            error = e
        else:
            return _secret_once(
                ctx,
                nav="broker",
                title=f"Instance {created['name']} created",
                label="Proxy key",
                secret=created["proxy_key"],
                note="Configure the instance with this key now: it is shown only this once.",
                next_url=ctx.url("broker", "customers", customer_id),
                next_label="Back to the customer",
            )
    view = service.get_customer(customer_id)
    listed = service.list_instances(customer_id, PAGE_SIZE, ctx.query("cursor") or None)
    return ctx.show(
        "customer.html",
        error.status if error else 200,
        nav="broker",
        customer=view,
        instances=listed["data"],
        next_cursor=listed["next_cursor"],
        error=error,
    )


def customer_rotate(ctx: Ctx, customer_id: str) -> Response:
    from chalicelib.broker import service

    if not ctx.posted:
        view = service.get_customer(customer_id)
        return _confirm(
            ctx,
            title="Rotate this customer's API key?",
            message=f"{view['name']} gets a new API key; the current one stops working at once.",
            action=ctx.url("broker", "customers", customer_id, "rotate-key"),
            button="Rotate key",
            cancel=ctx.url("broker", "customers", customer_id),
        )
    rotated = service.rotate_customer_key(customer_id)
    return _secret_once(
        ctx,
        nav="broker",
        title=f"New API key for {rotated['name']}",
        label="API key",
        secret=rotated["api_key"],
        note="The previous key no longer works. This one is shown only now.",
        next_url=ctx.url("broker", "customers", customer_id),
        next_label="Back to the customer",
    )


def customer_delete(ctx: Ctx, customer_id: str) -> Response:
    from chalicelib.broker import service

    if not ctx.posted:
        view = service.get_customer(customer_id)
        return _confirm(
            ctx,
            title="Delete this customer?",
            message=f"{view['name']} will be deleted with its instances, connections and grants; "
            "its API key and proxy keys stop working.",
            action=ctx.url("broker", "customers", customer_id, "delete"),
            button="Delete customer",
            cancel=ctx.url("broker", "customers", customer_id),
        )
    service.delete_customer(customer_id)
    return ctx.back("broker", notice="customer_deleted")


def instance_rotate(ctx: Ctx, customer_id: str, instance_id: str) -> Response:
    from chalicelib.broker import service

    if not ctx.posted:
        view = service.get_instance(customer_id, instance_id)
        return _confirm(
            ctx,
            title="Rotate this instance's proxy key?",
            message=f"Instance {view['name']} gets a new proxy key; the current one stops working at once.",
            action=ctx.url("broker", "customers", customer_id, "instances", instance_id, "rotate-key"),
            button="Rotate key",
            cancel=ctx.url("broker", "customers", customer_id),
        )
    rotated = service.rotate_instance_key(customer_id, instance_id)
    return _secret_once(
        ctx,
        nav="broker",
        title=f"New proxy key for {rotated['name']}",
        label="Proxy key",
        secret=rotated["proxy_key"],
        note="The previous key no longer works. This one is shown only now.",
        next_url=ctx.url("broker", "customers", customer_id),
        next_label="Back to the customer",
    )


def instance_delete(ctx: Ctx, customer_id: str, instance_id: str) -> Response:
    from chalicelib.broker import service

    if not ctx.posted:
        view = service.get_instance(customer_id, instance_id)
        return _confirm(
            ctx,
            title="Delete this instance?",
            message=f"Instance {view['name']} will be deleted, with its grants; its proxy key stops working.",
            action=ctx.url("broker", "customers", customer_id, "instances", instance_id, "delete"),
            button="Delete instance",
            cancel=ctx.url("broker", "customers", customer_id),
        )
    service.delete_instance(customer_id, instance_id)
    return ctx.back("broker", "customers", customer_id, notice="instance_deleted")


# --- publishing ---------------------------------------------------------------------------------------


def publishing_page(ctx: Ctx) -> Response:
    from chalicelib.publishing import accounts

    error, action = None, ctx.form.get("action")
    if ctx.posted:
        try:
            if action == "create_user":
                body = {"email": ctx.form.get("email", ""), "superuser": ctx.form.get("superuser") == "on"}
                if ctx.form.get("name", "").strip():
                    body["name"] = ctx.form["name"]
                created = accounts.create_user(body)
                return _secret_once(
                    ctx,
                    nav="publishing",
                    title=f"User {created['email']} created",
                    label="API key",
                    secret=created["api_key"],
                    note="Give this key to the user now: it is shown only this once.",
                    next_url=ctx.url("publishing", "users", str(created["id"])),
                    next_label="Open the user",
                )
            if action == "create_group":
                body = {"name": ctx.form.get("name", "")}
                if ctx.form.get("slug", "").strip():
                    body["slug"] = ctx.form["slug"].strip()
                group = accounts.create_group(body)
                return ctx.back("publishing", "groups", group["slug"], notice="group_created")
            raise BadRequest("Unknown form action.", code="invalid_form")
        except KeyportError as e:
            if e.status >= 500:
                raise
            error = e
    find = ctx.query("user").strip()
    if find and not ctx.posted:
        return ctx.back("publishing", "users", find)
    return ctx.show(
        "publishing.html",
        error.status if error else 200,
        nav="publishing",
        groups=accounts.list_groups(),
        error=error,
        action=action,
        form=ctx.form,
    )


def publishing_user(ctx: Ctx, user: str) -> Response:
    from chalicelib.publishing import accounts

    error = None
    if ctx.posted:
        try:
            accounts.update_user(
                user, {"name": ctx.form.get("name", ""), "superuser": ctx.form.get("superuser") == "on"}
            )
            return ctx.back("publishing", "users", user, notice="user_saved")
        except KeyportError as e:
            if e.status >= 500 or isinstance(e, NotFound):
                raise
            error = e
    return ctx.show(
        "publishing_user.html",
        error.status if error else 200,
        nav="publishing",
        user=accounts.get_user(user),
        ref=user,
        error=error,
    )


def publishing_rotate(ctx: Ctx, user: str) -> Response:
    from chalicelib.publishing import accounts

    if not ctx.posted:
        view = accounts.get_user(user)
        return _confirm(
            ctx,
            title="Rotate this user's API key?",
            message=f"{view['email']} gets a new API key; the current one stops working at once.",
            action=ctx.url("publishing", "users", user, "rotate-key"),
            button="Rotate key",
            cancel=ctx.url("publishing", "users", user),
        )
    rotated = accounts.rotate_key(user)
    return _secret_once(
        ctx,
        nav="publishing",
        title=f"New API key for {rotated['email']}",
        label="API key",
        secret=rotated["api_key"],
        note="The previous key no longer works. This one is shown only now.",
        next_url=ctx.url("publishing", "users", user),
        next_label="Back to the user",
    )


def publishing_group(ctx: Ctx, group: str) -> Response:
    from chalicelib.publishing import accounts

    error = None
    if ctx.posted:
        try:
            accounts.set_member(group, ctx.form.get("user", "").strip(), {"role": ctx.form.get("role")})
            return ctx.back("publishing", "groups", group, notice="member_saved")
        except KeyportError as e:
            if e.status >= 500:
                raise
            error = e
    view = accounts.get_group(group)
    from chalicelib.publishing.accounts import ROLES

    return ctx.show(
        "publishing_group.html",
        error.status if error else 200,
        nav="publishing",
        group=view,
        ref=group,
        roles=ROLES,
        error=error,
        form=ctx.form,
    )


def publishing_member_delete(ctx: Ctx, group: str, user: str) -> Response:
    from chalicelib.publishing import accounts

    if not ctx.posted:
        return _confirm(
            ctx,
            title="Remove this member?",
            message=f"User {user} loses their role in group {group}.",
            action=ctx.url("publishing", "groups", group, "members", user, "delete"),
            button="Remove member",
            cancel=ctx.url("publishing", "groups", group),
        )
    accounts.remove_member(group, user)
    return ctx.back("publishing", "groups", group, notice="member_removed")


# --- entity store -----------------------------------------------------------------------------------------


def entities_page(ctx: Ctx) -> Response:
    from chalicelib.entities import accounts

    error, action = None, ctx.form.get("action")
    if ctx.posted:
        try:
            if action == "create_user":
                accounts.create_user(
                    {
                        "login": ctx.form.get("login", ""),
                        "password": ctx.form.get("password", ""),
                        "group": ctx.form.get("group", ""),
                    }
                )
                return ctx.back("entities", notice="user_created")
            if action == "create_group":
                accounts.create_group({"name": ctx.form.get("name", "")})
                return ctx.back("entities", notice="group_created")
            raise BadRequest("Unknown form action.", code="invalid_form")
        except KeyportError as e:
            if e.status >= 500:
                raise
            error = e
    group_filter = ctx.query("group") or None
    users = accounts.list_users(group_filter, PAGE_SIZE, ctx.query("cursor") or None)
    groups = accounts.list_groups(100, ctx.query("groups_cursor") or None)
    form = {k: v for k, v in ctx.form.items() if k != "password"}
    return ctx.show(
        "entities.html",
        error.status if error else 200,
        nav="entities",
        users=users["data"],
        next_cursor=users["next_cursor"],
        groups=groups["data"],
        groups_cursor=groups["next_cursor"],
        group_filter=group_filter,
        error=error,
        action=action,
        form=form,
    )


def entities_user_delete(ctx: Ctx, login: str) -> Response:
    from chalicelib.entities import accounts

    if not ctx.posted:
        accounts.get_user(login)
        return _confirm(
            ctx,
            title="Delete this user?",
            message=f"User {login} will be deleted; their sessions and tokens stop working.",
            action=ctx.url("entities", "users", login, "delete"),
            button="Delete user",
            cancel=ctx.url("entities"),
        )
    accounts.delete_user(login)
    return ctx.back("entities", notice="user_deleted")


def entities_group_delete(ctx: Ctx, name: str) -> Response:
    from chalicelib.entities import accounts

    if not ctx.posted:
        accounts.get_group(name)
        return _confirm(
            ctx,
            title="Delete this group?",
            message=f"Group {name} will be deleted. Only an empty group can be: move or delete its users first.",
            action=ctx.url("entities", "groups", name, "delete"),
            button="Delete group",
            cancel=ctx.url("entities"),
        )
    accounts.delete_group(name)
    return ctx.back("entities", notice="group_deleted")


# --- activity ----------------------------------------------------------------------------------------


def activity_page(ctx: Ctx) -> Response:
    before_text = ctx.query("before")
    before = int(before_text) if before_text.isdecimal() and len(before_text) <= 15 else None
    events, next_before = activity.recent(50, before, ctx.now)
    return ctx.show(
        "activity.html",
        nav="activity",
        events=events,
        next_before=next_before,
        days=activity.KEEP_DAYS,
        now=datetime.now(UTC),
    )


PAGES: dict[str, Callable[..., Response]] = {
    "sign_out": sign_out,
    "integrations": integrations_page,
    "integration": integration_page,
    "configuration_save": configuration_save,
    "configuration_delete": configuration_delete,
    "authentication": authentication_page,
    "authentication_reveal": authentication_reveal,
    "authentication_refresh": authentication_refresh,
    "authentication_delete": authentication_delete,
    "definition": definition_page,
    "definition_delete": definition_delete,
    "broker": broker_page,
    "customer": customer_page,
    "customer_rotate": customer_rotate,
    "customer_delete": customer_delete,
    "instance_rotate": instance_rotate,
    "instance_delete": instance_delete,
    "publishing": publishing_page,
    "publishing_user": publishing_user,
    "publishing_rotate": publishing_rotate,
    "publishing_group": publishing_group,
    "publishing_member_delete": publishing_member_delete,
    "entities": entities_page,
    "entities_user_delete": entities_user_delete,
    "entities_group_delete": entities_group_delete,
    "activity": activity_page,
}
