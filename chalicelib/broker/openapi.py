"""The credential broker in the OpenAPI document, generated from its contracts (``chalicelib/broker/contracts.py``)."""

from __future__ import annotations

from chalicelib.broker.contracts import OPERATIONS, TAG
from chalicelib.contracts import document_part

__all__ = ["PATHS", "SCHEMAS", "TAG"]

PATHS, SCHEMAS = document_part(OPERATIONS)
