"""The dashboard's pages: authenticate the browser, check forms, call the services' own functions, render.

Every change goes through the function the matching REST route calls (``integrations.service``,
``broker.admin``, ``publishing.accounts``, ``entities.accounts``), so validation and errors are the
API's. A page never holds a token value or an unmasked client secret, except the payload a "Reveal"
post answers with (logged as an activity) and a key just issued (shown once).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from chalice.app import Request, Response

from chalicelib import activity
from chalicelib.dashboard import render, sessions
from chalicelib.dashboard.context import ACTOR, FORM_TYPES, Ctx, client_address
from chalicelib.dashboard.views import activity as activity_view
from chalicelib.dashboard.views import broker, entities, integrations, publishing
from chalicelib.errors import BadRequest, Forbidden, KeyportError, NotFound, log
from chalicelib.http import now_ms, raw_body
from chalicelib.settings import get_settings

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


def handle(request: Request, name: str, params: dict[str, str], template: str) -> Response:
    """Answer one dashboard route (``template`` is its path, with ``params`` in braces)."""
    ctx = _context(request)
    ctx.params, ctx.here = params, ctx.route(template, params)
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
            log.error("dashboard request %s failed: %s", request.context.get("requestId"), e.error_code, exc_info=e)
        if ctx.session is not None:
            return ctx.show("error.html", e.status, e.headers, error=e)
        return render.error_page(e.status, e.error_code, e.message, e.headers)


# --- sign-in --------------------------------------------------------------------------------------


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
        value, _ = sessions.sign_in(ctx.form.get("secret_key", ""), client_address(ctx), ctx.now)
    except (sessions.WrongKey, sessions.SignInLocked) as e:
        if isinstance(e, sessions.WrongKey):
            actor = f"{ACTOR} ({client_address(ctx)})"
            activity.record("dashboard.sign_in_refused", actor, "dashboard", "wrong secret key")
        return ctx.show("sign_in.html", e.status, e.headers, closed=False, error=e.message, next=next_path)
    activity.record("dashboard.signed_in", f"{ACTOR} ({client_address(ctx)})", "dashboard")
    return render.redirect(_next(ctx, next_path), [_session_cookie(ctx, value, sessions.SESSION_SECONDS)])


def sign_out(ctx: Ctx) -> Response:
    sessions.sign_out(ctx.session)
    activity.record("dashboard.signed_out", f"{ACTOR} ({client_address(ctx)})", "dashboard")
    return render.redirect(ctx.url("sign-in", notice="signed_out"), [_session_cookie(ctx, "", 0)])


PAGES: dict[str, Callable[..., Response]] = {
    "sign_out": sign_out,
    "integrations": integrations.integrations_page,
    "integration": integrations.integration_page,
    "configuration_create": integrations.configuration_save,
    "configuration_update": integrations.configuration_save,
    "configuration_delete": integrations.configuration_delete,
    "authentication": integrations.authentication_page,
    "authentication_reveal": integrations.authentication_reveal,
    "authentication_refresh": integrations.authentication_refresh,
    "authentication_delete": integrations.authentication_delete,
    "definition": integrations.definition_page,
    "definition_edit": integrations.definition_page,
    "definition_delete": integrations.definition_delete,
    "broker": broker.broker_page,
    "customer": broker.customer_page,
    "customer_rotate": broker.customer_rotate,
    "customer_delete": broker.customer_delete,
    "instance_rotate": broker.instance_rotate,
    "instance_delete": broker.instance_delete,
    "publishing": publishing.publishing_page,
    "publishing_user": publishing.publishing_user,
    "publishing_rotate": publishing.publishing_rotate,
    "publishing_group": publishing.publishing_group,
    "publishing_member_delete": publishing.publishing_member_delete,
    "entities": entities.entities_page,
    "entities_user_delete": entities.entities_user_delete,
    "entities_group_delete": entities.entities_group_delete,
    "activity": activity_view.activity_page,
}
