"""What every dashboard page shares: the request's context, the notices, and the confirm and show-once pages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from chalice.app import Request, Response

from chalicelib.dashboard import render

PAGE_SIZE = 25
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
ACTOR = "dashboard"
_PARAMETER = re.compile(r"\{(\w+)\}")

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
    params: dict[str, str] = field(default_factory=dict)  # the route's path parameters, in path order
    here: str = ""  # this page's own URL (a confirm page posts back to it)

    @property
    def base(self) -> str:
        return self.prefix + "/dashboard"

    @property
    def posted(self) -> bool:
        return self.request.method == "POST"

    def route(self, template: str, params: dict[str, str]) -> str:
        """The URL of a dashboard route's template (``/dashboard/…/{name}``) with its parameters (each escaped)."""
        return self.prefix + _PARAMETER.sub(lambda m: quote(params[m.group(1)], safe=""), template)

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


def client_address(ctx: Ctx) -> str:
    identity = ctx.request.context.get("identity") or {}
    return str(identity.get("sourceIp") or "unknown")


def confirm(ctx: Ctx, **context: Any) -> Response:
    return ctx.show("confirm.html", **context)


def secret_once(ctx: Ctx, **context: Any) -> Response:
    return ctx.show("secret_once.html", 201, **context)
