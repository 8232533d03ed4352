"""Counts the DynamoDB calls a block makes, by operation and table (every botocore client, PynamoDB's included)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.calls import counting_aws_calls


def _table(api_params: dict[str, Any]) -> str:
    """The table a call addresses; for a transaction, the table of its first item; for a batch, its first table."""
    if "TableName" in api_params:
        return str(api_params["TableName"])
    for name in api_params.get("RequestItems", {}):
        return str(name)
    for item in api_params.get("TransactItems", []):
        for action in item.values():
            return str(action["TableName"])
    return ""


def _dynamodb_call(service: str, operation: str, api_params: Any) -> tuple[str, str] | None:
    return (operation, _table(api_params)) if service == "dynamodb" else None


@contextmanager
def counting_dynamodb_calls() -> Iterator[Counter[tuple[str, str]]]:
    """Yield a counter of ``(operation, table)`` filled with the DynamoDB calls made while the block runs."""
    with counting_aws_calls(_dynamodb_call) as calls:
        yield calls


def on_table(calls: Counter[tuple[str, str]], table: str) -> dict[str, int]:
    """The calls made on one table, by operation."""
    return {operation: count for (operation, name), count in calls.items() if name == table}
