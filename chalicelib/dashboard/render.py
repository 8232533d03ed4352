"""HTML responses of the dashboard: the Jinja2 environment (autoescaped), security headers, assets.

Imported only by the dashboard's own views (and, for an error on a dashboard path, by the error
renderer), so the REST API never loads Jinja2.
"""

from __future__ import annotations

import hashlib
import html
import json
from datetime import UTC, datetime
from functools import lru_cache
from http import HTTPStatus
from pathlib import Path
from typing import Any

from chalice.app import Response

HERE = Path(__file__).resolve().parent
STATIC = {"dashboard.css": "text/css; charset=utf-8", "dashboard.js": "text/javascript; charset=utf-8"}

# No inline script or style anywhere: scripts and styles come from this origin's files only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin-allow-popups",
}


@lru_cache(maxsize=1)
def environment() -> Any:
    """The template environment, built once per process."""
    # On first use: an error page rendered without a template does not load Jinja2.
    from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=ChainableUndefined,  # a missing optional field (auth.refreshURL) renders as nothing
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["ago"] = ago
    env.filters["exact"] = exact
    env.filters["pretty_json"] = lambda value: json.dumps(value, indent=2, sort_keys=True)
    env.globals["asset"] = asset_version
    return env


def _moment(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def exact(value: Any) -> str:
    """A moment in full, UTC: ``2024-06-02 13:36:45 UTC``."""
    moment = _moment(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def ago(value: Any, now: datetime | None = None) -> str:
    """A moment relative to now: ``3 min ago``, ``in 2 h``."""
    moment = _moment(value)
    if moment is None:
        return "—"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "just now" if not future else "in a few seconds"
    for size, unit in ((86400 * 365, "y"), (86400 * 30, "mo"), (86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size * 0.9 or unit == "min":
            amount = max(1, round(seconds / size))
            return f"in {amount} {unit}" if future else f"{amount} {unit} ago"
    return "—"  # pragma: no cover


@lru_cache(maxsize=8)
def asset(name: str) -> tuple[bytes, str]:
    """A static file's bytes and its short content hash."""
    data = (HERE / "static" / name).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:12]


def asset_version(name: str) -> str:
    return asset(name)[1]


def page(template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> Response:
    """A rendered page with the dashboard's security headers; never cached (pages carry form tokens)."""
    body = environment().get_template(template).render(**context).encode()
    all_headers: dict[str, str | list[str]] = {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        **SECURITY_HEADERS,
        **(headers or {}),
    }
    return Response(body=body, status_code=status, headers=all_headers)


def static(name: str, version: str | None) -> Response | None:
    """A static asset, cached for a year when asked for by its content hash; None when unknown."""
    if name not in STATIC:
        return None
    data, digest = asset(name)
    cache = "public, max-age=31536000, immutable" if version == digest else "no-cache"
    headers: dict[str, str | list[str]] = {
        "Content-Type": STATIC[name],
        "Cache-Control": cache,
        "ETag": f'"{digest}"',
        **SECURITY_HEADERS,
    }
    return Response(body=data, status_code=200, headers=headers)


def redirect(location: str, cookies: list[str] | None = None) -> Response:
    """303 See Other (after a form post), optionally setting cookies."""
    headers: dict[str, str | list[str]] = {"Location": location, "Cache-Control": "no-store", **SECURITY_HEADERS}
    if cookies:
        headers["Set-Cookie"] = cookies[0] if len(cookies) == 1 else cookies
    return Response(body=b"", status_code=303, headers=headers)


def error_page(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """A plain error page for a dashboard path (no session needed, no template that could fail)."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{status} {html.escape(title)} · Keyport</title>"
        f'<link rel="stylesheet" href="/dashboard/static/dashboard.css?v={asset_version("dashboard.css")}">'
        '</head><body><main class="narrow"><section class="card">'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
        f'<p class="muted">Error code: <code>{html.escape(code)}</code></p>'
        '<p><a href="/dashboard">Back to the dashboard</a></p></section></main></body></html>\n'
    ).encode()
    all_headers: dict[str, str | list[str]] = {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        **SECURITY_HEADERS,
        **(headers or {}),
    }
    return Response(body=body, status_code=status, headers=all_headers)
