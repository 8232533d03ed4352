"""The repo tags API in the OpenAPI document, generated from its contracts (``chalicelib/repotags/contracts.py``)."""

from __future__ import annotations

from chalicelib.contracts import document_part
from chalicelib.repotags.contracts import OPERATIONS, TAG, RepoTagsError

__all__ = ["PATHS", "SCHEMAS", "TAG"]

# RepoTagsError is also the body of the statuses every route shares (error_schema in its declaration.py).
PATHS, SCHEMAS = document_part(OPERATIONS, [RepoTagsError])
