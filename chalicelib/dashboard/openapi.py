"""The dashboard in the OpenAPI document: a tag only. Its HTML pages are not part of the REST API."""

from __future__ import annotations

from typing import Any

TAG = {
    "name": "dashboard",
    "description": "The operator dashboard: HTML pages under /dashboard, signed in with the secret key "
    "(see docs/dashboard.md). Not described operation by operation here.",
}
PATHS: dict[str, Any] = {}
SCHEMAS: dict[str, Any] = {}
