"""The OpenAPI document describes every route the app serves."""

from __future__ import annotations

import json
import re

from chalice.test import Client

from app import app
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
