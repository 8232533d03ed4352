"""The entity store in the OpenAPI document, generated from its contracts (``entities/contracts.py``)."""

from __future__ import annotations

from chalicelib.contracts import document_part
from chalicelib.entities.contracts import OPERATIONS, TAG, PlatformError

__all__ = ["PATHS", "SCHEMAS", "TAG"]

# PlatformError is also the body of the statuses every route shares (error_schema in its declaration.py).
PATHS, SCHEMAS = document_part(OPERATIONS, [PlatformError])
