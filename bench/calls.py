"""Counts the AWS API calls a block of code makes (every botocore client, PynamoDB's included)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def _by_operation(service: str, operation: str, api_params: Any) -> Any:
    return f"{service}.{operation}"


@contextmanager
def counting_aws_calls(key: Callable[[str, str, Any], Any] = _by_operation) -> Iterator[Counter[Any]]:
    """Yield a counter filled while the block runs: ``service.Operation`` names, or what ``key`` makes of
    (service, operation, parameters); a call ``key`` makes None of is not counted."""
    from botocore.client import BaseClient

    calls: Counter[Any] = Counter()
    original = BaseClient._make_api_call

    def counted(self: Any, operation_name: str, api_params: Any) -> Any:
        counted_as = key(self.meta.service_model.service_name, operation_name, api_params)
        if counted_as is not None:
            calls[counted_as] += 1
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = counted  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]
