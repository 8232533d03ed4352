"""Translation of DynamoDB failures at the repository boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pynamodb.exceptions import PynamoDBException

from chalicelib.errors import Conflict, ServiceUnavailable

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
