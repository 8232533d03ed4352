"""Every answer the functional tests get from the app is checked against the OpenAPI document.

A pytest plugin (enabled in ``tests/conftest.py``): while a test under ``tests/functional/`` runs, the
Chalice test client's requests to the Keyport app are answered as usual, then checked: the status is
documented for the operation the route serves, the content type is a documented one, and a JSON body
matches the documented schema. A test whose answers break the contract fails, listing each mismatch.

Routes outside the document (the dashboard's pages, the not-found fallbacks) are not checked.
:data:`KNOWN_DEVIATIONS` lists answers that differ from the document on purpose, each with its reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any

import jsonschema
import pytest
from chalice.local import RouteMatcher
from chalice.test import TestHTTPClient
from pluggy import Result
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

#: (method, OpenAPI path, status) → why the answer is not the documented one. Keep it empty if you can.
KNOWN_DEVIATIONS: dict[tuple[str, str, str], str] = {}
_UNDOCUMENTED_VIEWS = ("method_not_allowed_", "not_found", "root_not_found")
_OUT_OF_DOCUMENT = ("/dashboard",)


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    from chalicelib.openapi import _build

    return _build("http://localhost")


@lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry().with_resource("urn:keyport", Resource.from_contents(_document(), DRAFT202012))


@lru_cache(maxsize=512)
def _validator(text: str) -> jsonschema.Draft202012Validator:
    """A validator for the schema in ``text`` (JSON), whose references point into the document."""
    schema = json.loads(text.replace('"#/components/', '"urn:keyport#/components/'))
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER  # uuid, date-time, uri... are checked too
    return jsonschema.Draft202012Validator(schema, registry=_registry(), format_checker=checker)


@lru_cache(maxsize=1)
def _matcher() -> RouteMatcher:
    from app import app

    return RouteMatcher(list(app.routes))


def _integer(text: str) -> int | Decimal:
    """An integer of the body; beyond Python's digit limit for ``int`` (stored data may hold one), a Decimal."""
    return int(text) if len(text) < 4300 else Decimal(text)


def _operation(method: str, path: str) -> tuple[str, dict[str, Any] | None] | None:
    """The OpenAPI path and operation of the route serving ``method path`` (None: a route outside the document)."""
    from app import app

    route = _matcher().match_route(path.split("?", 1)[0])
    entry = app.routes.get(route.route, {}).get(method.upper())
    if entry is None or entry.view_name.startswith(_UNDOCUMENTED_VIEWS) or route.route.startswith(_OUT_OF_DOCUMENT):
        return None
    template = route.route.replace("+}", "}")
    return template, _document()["paths"].get(template, {}).get(method.lower())


def _json_problems(where: str, schema: dict[str, Any], body: bytes) -> list[str]:
    try:
        value = json.loads(body, parse_int=_integer)
    except (ValueError, RecursionError):
        return [f"{where}: not JSON"]
    problems = sorted(_validator(json.dumps(schema)).iter_errors(value), key=lambda e: list(e.absolute_path))
    return [f"{where} at {list(e.absolute_path)}: {e.message[:300]}" for e in problems[:5]]


def mismatches(
    method: str, path: str, status: int, headers: dict[str, str], body: bytes, sent: bytes = b""
) -> list[str]:
    """How the answer to ``method path`` differs from the document (empty: it does not).

    A successful answer to a JSON body ``sent`` also checks that body against the documented request body:
    a document that refuses what the service accepts is wrong too.
    """
    found = _operation(method, path)
    if found is None:
        return []
    template, operation = found
    where = f"{method.upper()} {template} answered {status}"
    if operation is None:
        return [f"{where}: the operation is not in the document"]
    taken = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    took = taken and 200 <= status < 300 and sent.strip().startswith(b"{")
    refused = _json_problems(f"{where}: the document refuses the body sent", taken, sent) if took else []
    if (method.upper(), template, str(status)) in KNOWN_DEVIATIONS:
        return refused
    answer = operation["responses"].get(str(status)) or operation["responses"].get("default")
    if answer is None:
        return [f"{where}: status not documented (documented: {', '.join(sorted(operation['responses']))})"]
    content = answer.get("content") or {}
    media = next((v for k, v in headers.items() if k.lower() == "content-type"), "").split(";")[0].strip()
    if not content or not body:
        return refused + ([f"{where}: a body where the document has none"] if body and not content else [])
    documented = next((m for m in (media, media.split("/")[0] + "/*", "*/*") if m in content), None)
    if documented is None:
        return [*refused, f"{where}: content type {media!r} not documented ({', '.join(content)})"]
    schema = content[documented].get("schema")
    if media != "application/json" or schema is None:
        return refused
    return refused + _json_problems(f"{where}: body", schema, body)


def checking(found: list[str]) -> Callable[..., Any]:
    """``TestHTTPClient.request`` that appends to ``found`` how each answer of the Keyport app breaks the document."""
    original = TestHTTPClient.request

    def request(self: TestHTTPClient, method: str, path: str, headers: Any = None, body: bytes = b"") -> Any:
        answer = original(self, method, path, headers=headers, body=body)
        from app import app

        if getattr(self, "_app", None) is app:
            sent = body if isinstance(body, bytes) else str(body or "").encode()
            found.extend(mismatches(method, path, answer.status_code, dict(answer.headers), answer.body or b"", sent))
        return answer

    return request


@pytest.fixture(autouse=True)
def _answers_follow_the_contract(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In functional tests: collect every answer that breaks the document (the test then fails)."""
    if "functional" not in request.node.path.parts:
        yield
        return
    found: list[str] = []
    monkeypatch.setattr(TestHTTPClient, "request", checking(found))
    request.node.stash[_FOUND] = found
    yield


_FOUND = pytest.StashKey[list[str]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Result[None], None]:
    """Fail a test that passed but got an answer the document does not describe."""
    outcome = yield
    found = item.stash.get(_FOUND, [])
    if found and outcome.excinfo is None:
        unique = list(dict.fromkeys(found))
        outcome.force_exception(AssertionError("answers not as documented:\n  " + "\n  ".join(unique)))
