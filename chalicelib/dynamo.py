"""Keyport's PynamoDB base model, and the translation of DynamoDB failures at the repository boundary."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pynamodb.connection.table import TableConnection
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.models import Model as PynamoModel
from pynamodb.transactions import TransactWrite

from chalicelib import aws
from chalicelib.errors import Conflict, ServiceUnavailable


class Model(PynamoModel):
    """A PynamoDB model whose table connection uses the process's one DynamoDB client (``aws.client``).

    Left alone, PynamoDB makes a botocore session, loader and client for every table: on a cold start
    each loads botocore's endpoints and DynamoDB model again, some 25 ms per table a request touches.
    The shared client has the same endpoint, region, timeouts and attempts (``aws.table_meta``).
    """

    @classmethod
    def _get_connection(cls) -> TableConnection:
        table = super()._get_connection()
        if table.connection._client is None:
            table.connection._client = aws.client("dynamodb")
        return table


_UNAVAILABLE = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "ResourceNotFoundException",
    }
)


def is_conditional_failure(error: PynamoDBException) -> bool:
    """Whether a PynamoDB error is a failed condition (or a transaction cancelled by one)."""
    code = error.cause_response_code
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = getattr(error, "cancellation_reasons", None) or []
        return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)
    return False


@contextmanager
def translated(conflict_message: str | None = None) -> Iterator[None]:
    """Turn DynamoDB failures into Keyport errors: a failed condition into Conflict, an outage into 503."""
    try:
        yield
    except PynamoDBException as e:
        if conflict_message is not None and is_conditional_failure(e):
            raise Conflict(conflict_message) from e
        if e.cause_response_code is None or e.cause_response_code in _UNAVAILABLE:
            raise ServiceUnavailable("The database is unavailable; try again shortly.") from e
        raise


def updated(item: PynamoModel, actions: list[Any], condition: Any, **options: Any) -> bool:
    """Apply update actions to an item under ``condition``, failures translated; False when the condition failed."""
    try:
        with translated():
            item.update(actions=actions, condition=condition, **options)
    except PynamoDBException as e:
        if is_conditional_failure(e):
            return False
        raise
    return True


# --- transactions -------------------------------------------------------------------------------------

_ATTEMPTS = 4
_RETRYABLE_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


class Stale(Conflict):
    """The item changed between reading and writing it (callers read it again and retry)."""

    code = "concurrent_change"
    default_message = "This item changed while the request ran; try again."


class Cancelled(Stale):
    """A transaction cancelled by the conditions named in ``failed``."""

    def __init__(self, failed: frozenset[str]) -> None:
        super().__init__()
        self.failed = failed


class Transaction:
    """A TransactWrite whose items carry labels, so a cancelled one names the conditions that failed.

    PynamoDB sends condition checks, then deletes, then puts, then updates, whatever the order they
    were added in; DynamoDB's cancellation reasons follow that order, and so do the labels here.
    """

    _KINDS = ("check", "delete", "put", "update")

    def __init__(self, connection_model: Any) -> None:
        # The tables' own connection: same region and endpoint, renewed by aws.reset() with the models.
        self._connection_model = connection_model
        self._ops: list[tuple[str, str, Callable[[Any], None]]] = []

    def check(self, label: str, model: type[Any], key: Any, condition: Any) -> None:
        self._ops.append(("check", label, lambda t: t.condition_check(model, key, condition=condition)))

    def delete(self, label: str, item: Any, condition: Any = None) -> None:
        self._ops.append(("delete", label, lambda t: t.delete(item, condition=condition)))

    def put(self, label: str, item: Any, condition: Any = None) -> None:
        self._ops.append(("put", label, lambda t: t.save(item, condition=condition)))

    def update(self, label: str, item: Any, actions: list[Any], condition: Any = None) -> None:
        self._ops.append(("update", label, lambda t: t.update(item, actions, condition=condition)))

    def commit(self) -> None:
        """Write every item or none; :class:`Cancelled`, naming the failed conditions, when one failed."""
        labels = [label for kind in self._KINDS for (k, label, _) in self._ops if k == kind]
        for attempt in range(_ATTEMPTS):
            with translated():
                try:
                    with TransactWrite(connection=self._connection_model._get_connection().connection) as transaction:
                        for _, _, add in self._ops:
                            add(transaction)
                    return
                except TransactWriteError as e:
                    reasons = _reasons(e)
                    failed = frozenset(labels[i] for i, code in enumerate(reasons) if code == "ConditionalCheckFailed")
                    if failed:
                        raise Cancelled(failed) from e
                    if not _RETRYABLE_REASONS.intersection(reasons):
                        raise
            time.sleep(0.02 * (attempt + 1))  # two transactions met on one item: run it again
        raise ServiceUnavailable("Too many concurrent changes to the same items; try again.")


def _reasons(error: Any) -> list[str | None]:
    if error.cause_response_code != "TransactionCanceledException":
        return []
    return [r.code if r is not None else None for r in (error.cancellation_reasons or [])]
