"""The publishing API in the OpenAPI document, generated from its contracts (``publishing/contracts.py``)."""

from __future__ import annotations

from chalicelib.contracts import document_part
from chalicelib.publishing.contracts import OPERATIONS, TAG, AutotuneError

__all__ = ["PATHS", "SCHEMAS", "TAG"]

# AutotuneError is also the body of the statuses every route shares (error_schema in its declaration.py).
PATHS, SCHEMAS = document_part(OPERATIONS, [AutotuneError])
