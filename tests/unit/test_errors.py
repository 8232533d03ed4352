"""Errors render in the documented body of the service that owns the path."""

from __future__ import annotations

import json

import pytest
from chalice.app import Response

from chalicelib import errors


@pytest.mark.parametrize(
    ("path", "style"),
    [
        ("/api/github", "pizzly"),
        ("/api/", "pizzly"),
        ("/auth/callback", "pizzly"),
        ("/proxy/github/user", "pizzly"),
        ("/admin/customers", "pizzly"),
        ("/v1/customers/x/connections", "broker"),
        ("/internal/v1/instances/x/connections", "broker"),
        ("/api/v1/tags", "giistr"),
        ("/api/v1/repo-tag-assoc/1", "giistr"),
        ("/api/v1/user/1", "giistr"),
        ("/api/v1/things", "platform"),
        ("/api/v1/auth/token", "platform"),
        ("/projects/1", "autotune"),
        ("/blueprints", "autotune"),
        ("/nothing/here", "pizzly"),
    ],
)
def test_each_path_answers_in_its_service_style(path: str, style: str) -> None:
    assert errors.style_for_path(path) == style


def _body(error: errors.KeyportError, path: str) -> dict:
    response = errors.render(error, path)
    assert response.status_code == error.status
    return json.loads(response.body)


def test_pizzly_style_carries_type_and_message() -> None:
    body = _body(errors.NotFound("gone", code="unknown_integration"), "/api/x")
    assert body == {"error": {"type": "unknown_integration", "message": "gone"}}


def test_broker_style_is_fastapi_shaped() -> None:
    assert _body(errors.NotFound("no such connection"), "/v1/customers") == {"detail": "no such connection"}
    details = [{"loc": ["body", "name"], "msg": "field required", "type": "missing"}]
    assert _body(errors.ValidationFailed(details=details), "/v1/customers") == {"detail": details}


def test_giistr_style_names_the_status() -> None:
    assert _body(errors.NotFound("no tag"), "/api/v1/tag/1") == {"status": "404 Not Found", "message": "no tag"}


def test_autotune_style_is_a_single_message() -> None:
    assert _body(errors.Forbidden("not yours"), "/projects/1") == {"error": "not yours"}


def test_platform_style_matches_the_documented_bodies() -> None:
    assert _body(errors.Unauthorized("x"), "/api/v1/things") == {
        "success": False,
        "code": "401",
        "message": "Unauthorized",
        "tags": ["error_unauthorized"],
    }
    assert _body(errors.Forbidden("x"), "/api/v1/things")["tags"] == ["error_credentials", "error_forbidden"]
    assert _body(errors.NotFound("x"), "/api/v1/things")["tags"] == ["error_not_found"]
    bad = _body(errors.BadRequest("limit must be a number"), "/api/v1/things")
    assert bad["code"] == "400" and bad["message"] == "limit must be a number" and bad["success"] is False


def test_chalice_built_errors_are_translated_and_unexpected_ones_hide_details() -> None:
    own = Response(
        body={"Code": "UnsupportedMediaType", "Message": "Unsupported media type: text/plain"}, status_code=415
    )
    translated = errors.from_chalice_response(own)
    assert isinstance(translated, errors.UnsupportedMediaType)
    crash = Response(
        body={"Code": "InternalServerError", "Message": "An internal server error occurred."}, status_code=500
    )
    hidden = errors.from_chalice_response(crash)
    assert hidden is not None and hidden.status == 500 and "Traceback" not in hidden.message
    assert errors.from_chalice_response(Response(body={"ok": True}, status_code=200)) is None
    assert errors.from_chalice_response(Response(body={"Code": "x", "Message": "y", "z": 1}, status_code=400)) is None
