"""The OpenAPI document describes every route the app serves."""

from __future__ import annotations

import json
import re

import jsonschema
from chalice.test import Client
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app import app
from chalicelib import errors
from chalicelib.openapi import _build

FALLBACK_VIEWS = ("method_not_allowed_", "not_found", "root_not_found")


def _served_operations() -> set[tuple[str, str]]:
    operations = set()
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            # The dashboard's HTML pages are not part of the REST API the document describes.
            if not entry.view_name.startswith(FALLBACK_VIEWS) and not path.startswith("/dashboard"):
                operations.add((path.replace("+}", "}"), method.lower()))
    return operations


def _documented_operations(document: dict) -> set[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    return {(path, m) for path, item in document["paths"].items() for m in item if m in methods}


def test_every_route_is_documented_and_nothing_else_is() -> None:
    document = _build("http://localhost")
    assert _served_operations() == _documented_operations(document)


def test_every_operation_names_its_security_and_responses() -> None:
    document = _build("http://localhost")
    schemes = set(document["components"]["securitySchemes"])
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert "responses" in operation, (path, method)
            assert isinstance(operation["security"], list), (path, method)
            for requirement in operation["security"]:
                assert set(requirement) <= schemes, (path, method)


def test_every_reference_resolves() -> None:
    document = _build("http://localhost")
    text = json.dumps(document)
    for name in re.findall(r'"#/components/schemas/([^"]+)"', text):
        assert name in document["components"]["schemas"], name


def test_path_parameters_match_the_path_template() -> None:
    document = _build("http://localhost")
    for path, item in document["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        for method, operation in item.items():
            if method != "parameters":
                declared_here = declared | {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
                assert names == declared_here, (path, method)


def test_the_document_is_served_without_authentication() -> None:
    with Client(app) as client:
        response = client.http.get("/openapi.json", headers={"Host": "api.example.com"})
    assert response.status_code == 200
    document = json.loads(response.body)
    assert document["openapi"] == "3.1.0"
    assert document["servers"][0]["url"].endswith("://api.example.com")


# --- statuses -------------------------------------------------------------------------------------

_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _operations(document: dict) -> list[tuple[str, str, dict]]:
    return [(p, m, op) for p, item in document["paths"].items() for m, op in item.items() if m in _METHODS]


def test_every_operation_documents_what_every_route_can_answer() -> None:
    document = _build("http://localhost")
    for path, method, operation in _operations(document):
        if path == "/openapi.json":
            continue
        statuses = set(operation["responses"])
        assert {"413", "500", "503", "504"} <= statuses, (path, method)
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            assert {"400", "415"} <= statuses, (path, method)
        security = operation["security"]
        if security and all(security):
            assert "401" in statuses, (path, method)


def test_every_create_documents_its_idempotency_key_and_what_the_key_can_answer() -> None:
    from chalicelib.services import create_routes

    create_paths = create_routes()

    document = _build("http://localhost")
    creates = {(path, "post") for path in create_paths}
    assert creates <= _documented_operations(document)  # every keyed create is a documented POST
    for path, method, operation in _operations(document):
        keyed = any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
        assert keyed == ((path, method) in creates), (path, method)
        if keyed:
            assert {"409", "422"} <= set(operation["responses"]), path
            success = [answer for status, answer in operation["responses"].items() if status.startswith("2")]
            assert success and all("Idempotent-Replayed" in answer["headers"] for answer in success), path


def _validator(document: dict, schema: dict) -> jsonschema.Draft202012Validator:
    """A validator for ``schema``, whose references point into ``document``."""
    registry = Registry().with_resource("urn:keyport", Resource.from_contents(document, DRAFT202012))
    text = json.dumps(schema).replace('"#/components/', '"urn:keyport#/components/')
    return jsonschema.Draft202012Validator(json.loads(text), registry=registry)


def test_every_documented_json_error_is_the_body_the_service_renders_for_that_path() -> None:
    document = _build("http://localhost")
    checked = 0
    for path, method, operation in _operations(document):
        concrete = re.sub(r"{[^}]+}", "x", path)
        for status, response in operation["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if not status.isdigit() or int(status) < 400 or schema is None or status == "504":
                continue
            error = type("Documented", (errors.KeyportError,), {"status": int(status)})("Something went wrong.")
            body = json.loads(errors.render(error, concrete).body)
            problems = [e.message for e in _validator(document, schema).iter_errors(body)]
            assert not problems, (path, method, status, body, problems)
            checked += 1
    assert checked > 500


def test_an_unknown_integration_on_the_connect_page_is_a_documented_404(aws_env: None) -> None:
    document = _build("http://localhost")
    with Client(app) as client:
        response = client.http.get("/auth/0")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert "text/html" in document["paths"]["/auth/{integration}"]["get"]["responses"]["404"]["content"]


# --- the contract check of functional tests (tests/support/contract_check.py) ----------------------


def test_the_contract_check_reports_an_undocumented_status_a_body_off_its_schema_and_a_wrong_content_type() -> None:
    from tests.support.contract_check import mismatches

    json_type = {"Content-Type": "application/json"}
    page = {"object": "list", "data": [{"id": "x", "name": "a"}], "has_more": False, "next_cursor": None}
    assert mismatches("GET", "/admin/customers", 200, json_type, json.dumps(page).encode()) == [
        "GET /admin/customers answered 200: body at ['data', 0]: 'created_at' is a required property",
        "GET /admin/customers answered 200: body at ['data', 0, 'id']: 'x' is not a 'uuid'",
    ]
    assert "status not documented" in mismatches("GET", "/admin/customers", 418, json_type, b"{}")[0]
    html = {"Content-Type": "text/html; charset=utf-8"}
    assert "content type 'text/html' not documented" in mismatches("GET", "/admin/customers", 200, html, b"<p>")[0]


def test_the_contract_check_accepts_a_documented_answer_and_skips_pages_outside_the_document() -> None:
    from tests.support.contract_check import mismatches

    error = json.dumps({"error": {"type": "unauthorized", "message": "Missing secret key"}}).encode()
    assert mismatches("GET", "/admin/customers", 401, {"Content-Type": "application/json"}, error) == []
    assert mismatches("DELETE", "/admin/customers/c1", 204, {}, b"") == []
    assert mismatches("GET", "/dashboard", 200, {"Content-Type": "text/html"}, b"<p>") == []


def test_only_the_contracts_and_the_document_load_pydantic() -> None:
    """Cold starts stay small: a request that validates no body never imports pydantic (about 60 ms)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    loaders = {"contracts", "openapi", "schemas"}
    validating = {
        "chalicelib.broker.connections",  # the broker's customer API: every body it takes is a model
        "chalicelib.publishing.bodies",  # the publishing bodies' rules: imported by its contracts only
    }
    modules = sorted(
        name
        for path in (root / "chalicelib").rglob("*.py")
        if path.stem not in loaders | {"__init__"}
        and "__pycache__" not in path.parts
        and (name := ".".join(path.relative_to(root).with_suffix("").parts)) not in validating
    )
    code = (
        "import importlib, sys\nimport app\n"
        f"for name in {modules!r}:\n    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'pydantic' or m.endswith(('.contracts', '.schemas'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


def test_the_contract_check_reports_a_request_body_the_document_refuses_but_the_service_took() -> None:
    from tests.support.contract_check import mismatches

    customer = {"id": "6f1c2b1e-8f7a-4c1d-9a57-3a2f0e1d2c3b", "name": "x", "created_at": "2026-01-01T00:00:00Z"}
    created = json.dumps({**customer, "api_key": "k"}).encode()
    headers = {"Content-Type": "application/json"}
    assert mismatches("POST", "/admin/customers", 201, headers, created, b'{"name": "x"}') == []
    refused = mismatches("POST", "/admin/customers", 201, headers, created, b'{"name": ""}')
    assert refused and all(r.startswith("POST /admin/customers answered 201: the document refuses the body sent at "
                                        "['name']") for r in refused)  # fmt: skip
    assert mismatches("POST", "/admin/customers", 400, headers, b'{"error": {"type": "t", "message": "m"}}',
                      b'{"name": ""}') == []  # fmt: skip


def test_the_documented_roles_are_the_roles_the_publishing_service_knows() -> None:
    from typing import get_args

    from chalicelib.publishing.accounts import ROLES
    from chalicelib.publishing.contracts import Role

    assert get_args(Role) == ROLES
