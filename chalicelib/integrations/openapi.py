"""The integrations API in the OpenAPI document, generated from its contracts (``integrations/contracts.py``)."""

from __future__ import annotations

from chalicelib.contracts import document_part
from chalicelib.integrations.contracts import API_OPERATIONS, FLOW_OPERATIONS, TAG, PizzlyError

__all__ = ["PATHS", "SCHEMAS", "TAG"]

# PizzlyError is also the body of the statuses every route shares (error_schema in its declaration.py).
PATHS, SCHEMAS = document_part([*API_OPERATIONS, *FLOW_OPERATIONS], [PizzlyError])
