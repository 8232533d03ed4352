"""Each service is declared once (chalicelib/<service>/declaration.py) and everything reads the declarations."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from app import app
from chalicelib import services
from chalicelib.services import Service

ROOT = Path(__file__).resolve().parents[2]


def test_every_service_package_declares_itself_and_the_app_registers_its_blueprint() -> None:
    declared = {service.name for service in services.declared()}
    assert declared == {"broker", "dashboard", "entities", "integrations", "jobs", "publishing", "repotags"}
    served_by = {entry.view_function.__module__ for methods in app.routes.values() for entry in methods.values()}
    blueprints = {service.module(service.blueprint) for service in services.declared() if service.blueprint}
    assert served_by - {"app"} <= blueprints
    assert {s.name for s in services.declared() if s.prefixes} == declared - {"jobs"}


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/", "integrations"),
        ("/openapi.json", "integrations"),
        ("/admin/customers", "integrations"),  # the operators' routes answer in Pizzly's body
        ("/api/github/authentications/1", "integrations"),
        ("/api/v1", "entities"),
        ("/api/v1/things/1", "entities"),
        ("/api/v1/tags", "repotags"),  # a longer declared prefix wins
        ("/api/v1/repo-tag-assoc/1", "repotags"),
        ("/api/v1/tagged", "entities"),  # prefixes match whole segments
        ("/v1/customers/c/connections", "broker"),
        ("/internal/v1/instances/i/connections", "broker"),
        ("/internal/other", "integrations"),
        ("/themes/1", "publishing"),
        ("/dashboard/integrations", "dashboard"),
    ],
)
def test_a_path_belongs_to_the_service_declaring_its_longest_prefix(path: str, service: str) -> None:
    assert services.owning(path).name == service


def test_a_declaration_names_its_own_package_and_the_error_body_of_the_paths_it_owns() -> None:
    with pytest.raises(ValueError, match="error style"):
        Service(name="shop", prefixes=("/shop",)).check("shop")
    with pytest.raises(TypeError, match="declares service 'shop'"):
        Service(name="shop").check("store")
    assert Service(name="shop", prefixes=("/shop",), error_style="pizzly").check("shop").name == "shop"


def test_schedules_and_functions_are_loaded_from_their_services_blueprint() -> None:
    registered: list[Any] = [*app.pure_lambda_functions, *app.event_sources]
    handlers = {f.name: f.handler_string for f in registered}
    assert handlers["build_worker"] == "chalicelib.publishing.routes.build_worker"
    assert handlers["build_sweep"] == "chalicelib.publishing.routes.build_sweep"
    assert handlers["ws_open"] == "chalicelib.entities.routes.ws_open"
    assert handlers["ws_sweep"] == "chalicelib.entities.routes.ws_sweep"
    assert handlers["refresh_sweep"] == "chalicelib.jobs.functions.refresh_sweep"
    blueprints = {service.module(service.blueprint) for service in services.declared() if service.blueprint}
    assert {handler.rpartition(".")[0] for handler in handlers.values()} <= blueprints


def test_the_refresh_sweep_reads_the_declared_sources() -> None:
    modules = services.refresh_source_modules()
    assert modules == ["chalicelib.broker.refresh_store", "chalicelib.integrations.refresh_store"]
    assert [source.name for source in services.refresh_sources()] == ["broker", "integrations"]


def test_an_openapi_part_comes_from_a_module_or_from_a_provider_function(monkeypatch: pytest.MonkeyPatch) -> None:
    part: Any = services.named("dashboard").openapi_part()
    assert part[0] == {} and part[2]["name"] == "dashboard"
    provider = types.ModuleType("chalicelib.dashboard.generated")
    provider.document_part = lambda: ({"/x": {}}, {"X": {}}, {"name": "x"})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "chalicelib.dashboard.generated", provider)
    declared = Service(name="dashboard", prefixes=("/x",), error_style="pizzly", openapi="generated:document_part")
    assert declared.openapi_part() == ({"/x": {}}, {"X": {}}, {"name": "x"})
    assert services.named("jobs").openapi_part() is None


def test_reading_the_declarations_imports_no_service_module() -> None:
    code = (
        "import json, sys\nfrom chalicelib import services\nservices.declared()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('chalicelib.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out))
    declarations = {f"chalicelib.{service.name}.declaration" for service in services.declared()}
    packages = {f"chalicelib.{service.name}" for service in services.declared()}
    assert loaded - declarations - packages == {"chalicelib.observability", "chalicelib.services"}
