"""The services Keyport serves, each declared once, by its own package.

A package of ``chalicelib`` that holds a ``declaration.py`` is a service: its ``SERVICE`` names the
blueprint that carries its routes, schedules and Lambda functions, the URL prefixes it owns, the
documented error body it answers in, its part of the OpenAPI document and the credentials the refresh
sweep renews for it. Everything that needs the services reads them here: ``app.py`` registers their
blueprints, ``chalicelib/openapi.py`` merges their documents, ``errors`` renders an error in the body
of the service owning the path, the access log names that service and the refresh sweep loads its
sources. Adding a service, or a prefix, is one declaration.

Declarations name modules and do not import them, so reading them costs a directory listing and one
small module per service at cold start; a service's own modules load when something uses them.
"""

from __future__ import annotations

import importlib
import os
from functools import cache
from typing import Any, NamedTuple

from chalice.app import Blueprint

from chalicelib import observability

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class Service(NamedTuple):
    """One service: what ``chalicelib/<name>/declaration.py`` declares.

    Module names are relative to the service's package (``routes`` is ``chalicelib.<name>.routes``).
    A NamedTuple rather than a dataclass: a fifth of the cost at cold start, where it is defined.
    """

    name: str  # the package under chalicelib/, and the ``service`` of its log lines and metrics
    prefixes: tuple[str, ...] = ()  # URL paths it owns, by whole segments; the longest declared prefix wins
    error_style: str | None = None  # the documented error body it answers in (errors.error_body)
    error_schema: str | None = None  # that body's component in its OpenAPI part, for the statuses every route shares
    blueprint: str | None = "routes"  # the module whose ``bp`` carries its routes, schedules and functions
    openapi: str | None = "openapi"  # its part of the document: a module (PATHS, SCHEMAS, TAG) or "module:function"
    refresh_sources: tuple[str, ...] = ()  # modules whose SWEEP_SOURCE the refresh sweep renews
    creates: tuple[str, ...] = ()  # its create routes (POST, by Chalice route path): they honour Idempotency-Key

    def check(self, package: str) -> Service:
        """The declaration, if it is one of ``package`` that says what its registry needs."""
        if self.name != package:
            raise TypeError(f"chalicelib/{package}/declaration.py declares service {self.name!r}")
        if self.prefixes and self.error_style is None:
            raise ValueError(f"service {self.name} owns URL prefixes but declares no error style")
        return self

    def module(self, relative: str) -> str:
        """The full name of one of the service's modules."""
        return f"chalicelib.{self.name}.{relative}"

    def load_blueprint(self) -> Blueprint:
        """The service's blueprint (imports its routes module, which imports its views' helpers only)."""
        if self.blueprint is None:
            raise LookupError(f"service {self.name} declares no blueprint")
        blueprint: Blueprint = importlib.import_module(self.module(self.blueprint)).bp
        return blueprint

    def openapi_part(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
        """(paths, schemas, tag) of the service's part of the OpenAPI document, or None when it has none."""
        if self.openapi is None:
            return None
        module_name, _, function = self.openapi.partition(":")
        provider: Any = importlib.import_module(self.module(module_name))
        if function:
            paths, schemas, tag = getattr(provider, function)()
            return paths, schemas, tag
        return provider.PATHS, provider.SCHEMAS, provider.TAG

    def owns(self, segments: list[str]) -> int:
        """How many leading segments of a path its longest matching prefix covers (-1: none matches)."""
        best = -1
        for prefix in self.prefixes:
            wanted = [p for p in prefix.split("/") if p]
            if segments[: len(wanted)] == wanted:
                best = max(best, len(wanted))
        return best


def blueprint(import_name: str) -> Blueprint:
    """A service's blueprint, for ``routes.py``: ``bp = blueprint(__name__)``.

    Lambda loads a blueprint's schedules and functions from the blueprint's own module (their handler
    string names it, not ``app.py``), so the JSON log format is set up here as well as in ``app.py``.
    """
    observability.configure()
    return Blueprint(import_name)


@cache
def declared() -> tuple[Service, ...]:
    """Every service, by name: each package of chalicelib with a ``declaration.py``."""
    names = sorted(
        entry.name
        for entry in os.scandir(_PACKAGE_DIR)
        if entry.is_dir() and os.path.isfile(os.path.join(entry.path, "declaration.py"))
    )
    services = []
    for name in names:
        service = importlib.import_module(f"chalicelib.{name}.declaration").SERVICE
        if not isinstance(service, Service):
            raise TypeError(f"chalicelib/{name}/declaration.py must declare SERVICE = Service(name={name!r}, ...)")
        services.append(service.check(name))
    return tuple(services)


def named(name: str) -> Service:
    """The service called ``name``."""
    for service in declared():
        if service.name == name:
            return service
    raise LookupError(f"no service {name}")


def owning(path: str) -> Service:
    """The service whose declared prefix covers most of ``path`` (the one declaring ``/`` when no other does)."""
    segments = [p for p in path.split("/") if p]
    best: tuple[int, Service | None] = (-1, None)
    for service in declared():
        covered = service.owns(segments)
        if covered > best[0]:
            best = (covered, service)
    if best[1] is None:
        raise LookupError(f"no service declares a prefix of {path}")
    return best[1]


def error_style(path: str) -> str:
    """The documented error body that ``path`` answers in."""
    style = owning(path).error_style
    assert style is not None  # a service with prefixes declares one (Service.check)
    return style


@cache
def create_routes() -> frozenset[str]:
    """Every declared create route (POST, by Chalice route path): the routes that honour Idempotency-Key."""
    return frozenset(route for service in declared() for route in service.creates)


def refresh_source_modules() -> list[str]:
    """The modules of every declared refresh source, without importing them."""
    return [service.module(source) for service in declared() for source in service.refresh_sources]


def refresh_sources() -> list[Any]:
    """Every kind of credential the refresh sweep renews: each declared module's ``SWEEP_SOURCE``
    (a ``chalicelib.jobs.refresh_sweep.Source``; not imported here, the registry stays below the sweep)."""
    return [importlib.import_module(module).SWEEP_SOURCE for module in refresh_source_modules()]
