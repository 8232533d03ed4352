"""Cross-tenant tables: every route of a service, called with another tenant's credentials.

A service's test module declares a table of :class:`Case` rows (one or more per route) and a
:class:`Tenants` fixture: two tenants, A and B, each with resources named after the path parameters
that address them. For each row the driver (:func:`check_case`):

1. fills the route's path parameters (and ``{name}`` placeholders in the request body) with A's
   resources, or with B's own for the parameters the row lists in ``own``;
2. checks that the path really reaches the route (not a catch-all), then calls it with the row's
   caller's credentials (B's, by default);
3. checks the status, the answer (the exact documented body, or the service's error shape), that the
   answer carries none of A's data that the request did not already carry;
4. reads A's resources back as A and checks they are exactly as before.

:func:`assert_table_covers` compares a table with the routes the Chalice app itself registers
(``app.routes``), so a new route without a row, or a row naming a route that is gone, fails.
"""

from __future__ import annotations

import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

Route = tuple[str, str]  # (METHOD, path as registered)

# What app.py adds to every path for unknown paths and unsupported methods: not routes of a service.
GENERIC_VIEWS = ("root_not_found", "not_found")
GENERIC_PREFIX = "method_not_allowed_"
TENANT_SERVICES = ("broker", "repotags", "publishing", "entities")
PARAMETER = re.compile(r"\{(\w+)\+?\}")


def app_routes() -> dict[Route, str]:
    """Every route of the app, (METHOD, path) → the module of its view, without app.py's generic ones."""
    from app import app

    found: dict[Route, str] = {}
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            if entry.view_name in GENERIC_VIEWS or entry.view_name.startswith(GENERIC_PREFIX):
                continue
            found[(method, path)] = entry.view_function.__module__
    return found


def tenant_routes(service: str) -> set[Route]:
    """The routes a tenant of ``service`` calls: its blueprint's routes outside ``/admin``."""
    module = f"chalicelib.{service}.routes"
    return {route for route, owner in app_routes().items() if owner == module and not is_admin(route)}


def operator_routes() -> set[Route]:
    """Every route that is no tenant's: each service's ``/admin`` routes, the integrations API, the rest."""
    tenants = set().union(*(tenant_routes(service) for service in TENANT_SERVICES))
    return set(app_routes()) - tenants


def is_admin(route: Route) -> bool:
    return route[1] == "/admin" or route[1].startswith("/admin/")


def assert_table_covers(table: Iterable[Case], routes: set[Route], module_file: str) -> None:
    """Every route has a row and every row names a route: a new route fails here until it gets its case.

    ``module_file`` is the ``__file__`` of the module holding the table, named in the message."""
    where = f"TABLE in {os.path.relpath(module_file)}"
    named = {case.route for case in table}
    missing = sorted(routes - named, key=lambda r: (r[1], r[0]))
    stale = sorted(named - routes, key=lambda r: (r[1], r[0]))
    message = []
    if missing:
        message.append(f"routes without a cross-tenant case (add a row to {where}):")
        message.extend(f"  {method} {path}" for method, path in missing)
    if stale:
        message.append(f"rows of {where} naming no route (remove or rename them):")
        message.extend(f"  {method} {path}" for method, path in stale)
    assert not message, "\n".join(message)


@dataclass(frozen=True)
class Case:
    """One call of a route by a tenant who must not reach A's resources, and what it must answer.

    ``body`` is the request body (JSON, or a form when it is a string): a string ``"{name}"`` in it is
    replaced by the resource of that name (keeping its type), other ``{name}`` in strings (and in
    ``query``) by its text. ``own`` names the parameters filled with the caller's own resources (to mix
    them with A's). ``caller`` names the credentials sent (the service's ``Tenants.headers``).
    ``answer`` is the exact body expected; when None, an error status must come in the service's
    documented error body.
    """

    method: str
    path: str
    status: int
    answer: Any = None
    body: Any = None
    own: tuple[str, ...] = ()
    query: str = ""
    caller: str = "b"

    @property
    def route(self) -> Route:
        return (self.method, self.path)

    @property
    def id(self) -> str:
        own = f" own {','.join(self.own)}" if self.own else ""
        return f"{self.method} {self.path}{self.query} as {self.caller}{own}"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    text: str


class Tenants(ABC):
    """Two tenants of one service over the Chalice test client: A owns what B must not reach."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.a: dict[str, Any] = {}
        self.b: dict[str, Any] = {}

    def resources(self, tenant: str, path: str) -> dict[str, Any]:
        """The values that fill ``path``'s parameters and body placeholders with ``tenant``'s ("a" or "b") resources.

        By default a parameter is the resource of the same name; a service whose routes share a parameter
        name for different kinds (``/projects/{id}``, ``/themes/{id}``) overrides this.
        """
        return dict(self.a if tenant == "a" else self.b)

    @abstractmethod
    def headers(self, caller: str) -> dict[str, str]:
        """The credentials a caller sends (``"b"`` is tenant B; services add their own kinds)."""

    @abstractmethod
    def read_back(self, route: str) -> Any:
        """A's resources as A reads them, compared before and after a call of ``route`` (a path as registered)."""

    @abstractmethod
    def private(self) -> Iterable[str]:
        """A's data that no answer to B may carry: names, keys, credentials, ids."""

    @abstractmethod
    def is_error(self, reply: Reply) -> bool:
        """Whether ``reply`` carries the service's documented error body for its status."""

    def call(self, method: str, path: str, headers: Mapping[str, str], body: Any = None) -> Reply:
        sent = {"Accept": "application/json", **headers}
        data = b""
        if isinstance(body, str):  # a form, as browsers post it
            data = body.encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        response = self.client.http.request(method, path, headers=sent, body=data)
        raw = response.body if isinstance(response.body, bytes) else str(response.body or "").encode()
        text = raw.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, parsed, text)

    def ok(self, caller: str, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """Call as ``caller`` and expect ``status``; the parsed body."""
        reply = self.call(method, path, self.headers(caller), body)
        assert reply.status == status, (method, path, reply.status, reply.text)
        return reply.body


def fill(template: Any, values: Mapping[str, Any]) -> Any:
    """``template`` with ``{name}`` placeholders replaced from ``values`` (a lone placeholder keeps its type)."""
    if isinstance(template, str):
        whole = PARAMETER.fullmatch(template)
        if whole:
            return values[whole.group(1)]
        return PARAMETER.sub(lambda m: str(values[m.group(1)]), template)
    if isinstance(template, dict):
        return {key: fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, values) for value in template]
    return template


def routed(path: str) -> str:
    """The route the test client (and API Gateway, static segments first) dispatches ``path`` to."""
    from chalice.local import RouteMatcher

    from app import app

    try:
        return str(RouteMatcher(list(app.routes)).match_route(path).route)
    except ValueError:  # nothing matches: the test client takes a greedy {proxy+} for one segment only
        return "no route"


def check_case(tenants: Tenants, case: Case) -> Reply:
    """Run one row: the caller's call answers as the row says, carries none of A's data, changes nothing of A's."""
    (reply,) = check_callers(tenants, case, [case.caller])
    return reply


def check_callers(tenants: Tenants, case: Case, callers: Iterable[str]) -> list[Reply]:
    """Run one row once per caller (each must get the row's answer), reading A back before and after them all."""
    theirs, mine = tenants.resources("a", case.path), tenants.resources("b", case.path)
    values = {**theirs, **{name: mine[name] for name in case.own}}
    path = PARAMETER.sub(lambda m: str(values[m.group(1)]), case.path)
    assert routed(path) == case.path, f"{path} does not reach {case.path} (it reaches {routed(path)})"
    query, body = fill(case.query, values), fill(case.body, values)
    sent = path + query + json.dumps(body)
    before = tenants.read_back(case.path)
    replies = []
    for caller in callers:
        reply = tenants.call(case.method, path + query, tenants.headers(caller), body)
        label = replace(case, caller=caller).id
        assert reply.status == case.status, (label, reply.status, reply.text)
        if case.answer is not None:
            assert reply.body == case.answer, (label, reply.text)
        elif reply.status >= 400:
            assert tenants.is_error(reply), (label, reply.text)
        leaked = [value for value in tenants.private() if value not in sent and value in reply.text]
        assert not leaked, (label, leaked, reply.text)
        replies.append(reply)
    assert tenants.read_back(case.path) == before, f"{case.id} changed tenant A's resources"
    return replies
