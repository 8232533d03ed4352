"""Per-request deadlines inside API Gateway's 29-second integration limit.

API Gateway gives up on a Lambda integration after 29 s and answers its own 504, while the function
keeps running (and may commit a write the caller never hears of). So the middleware in ``app.py``
starts a deadline for each request: the ``REQUEST_DEADLINE_SECONDS`` setting (25 s), or less when the
Lambda context has less time left. Everything that waits on another party takes its timeout from
what is left:

- every botocore client (ours and PynamoDB's) through the hooks :func:`install` adds to botocore's
  built-in handlers: each attempt's read timeout is the client's (``AWS_READ_TIMEOUT_SECONDS``) or
  what is left, whichever is smaller; no attempt or retry starts without time for it; and a timeout
  or lost connection on a request path becomes :class:`AwsUnavailable` (503);
- outbound HTTP and waits take :func:`timeout` (``min(cap, what is left)``), or read :func:`remaining`.

When the time is out, :class:`DeadlineExceeded` (a 503 in the service's documented error body) is
raised, so the caller gets an answer well before the gateway's 504. Outside a request (scheduled
jobs, workers, tests calling functions directly) there is no deadline and nothing changes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

from chalicelib.errors import KeyportError, ServiceUnavailable

#: Kept back from the deadline to render and return the 503 itself.
RESERVE_SECONDS = 0.5
#: The least time worth starting an AWS attempt or a wait with.
MIN_ATTEMPT_SECONDS = 0.25
#: The least time worth retrying a timed-out AWS call with (a retry also waits out its backoff).
MIN_RETRY_SECONDS = 1.0

_deadline: ContextVar[float | None] = ContextVar("keyport_deadline", default=None)


class DeadlineExceeded(ServiceUnavailable):
    """The request's time ran out while waiting for a service Keyport depends on."""

    code = "deadline_exceeded"
    default_message = "A service Keyport depends on did not answer in time; try again shortly."


class AwsUnavailable(ServiceUnavailable):
    """An AWS call on a request path timed out or lost its connection."""

    code = "aws_unavailable"
    default_message = "A service Keyport depends on did not answer; try again shortly."


def budget_seconds(lambda_context: Any = None) -> float | None:
    """The time one request may take: the setting, capped by what the Lambda invocation has left.

    None when ``REQUEST_DEADLINE_SECONDS`` is 0 (no deadline: the test suite's default, where the
    emulator on a busy machine may take longer than API Gateway would allow).
    """
    from chalicelib.settings import get_settings

    budget = get_settings().request_deadline_seconds
    if budget <= 0:
        return None
    remaining_ms = getattr(lambda_context, "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        with suppress(TypeError, ValueError):  # a context that cannot tell: keep the setting
            budget = min(budget, float(remaining_ms()) / 1000 - RESERVE_SECONDS)
    return max(budget, 0.0)


@contextmanager
def started(seconds: float | None) -> Iterator[None]:
    """Run the block under a deadline ``seconds`` from now (None: none; nested blocks keep the earlier one)."""
    if seconds is None:
        yield
        return
    at = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(at if outer is None else min(outer, at))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before the current request's deadline (may be negative); None outside a request."""
    at = _deadline.get()
    return None if at is None else at - time.monotonic()


def timeout(cap: float) -> float:
    """A timeout for one wait: ``cap``, or less when the request has less time left; 503 when none is left."""
    left = remaining()
    if left is None:
        return cap
    usable = left - RESERVE_SECONDS
    if usable < MIN_ATTEMPT_SECONDS:
        raise DeadlineExceeded()
    return min(cap, usable)


def check() -> None:
    """Raise :class:`DeadlineExceeded` when the request has no usable time left."""
    timeout(MIN_ATTEMPT_SECONDS)


# --- botocore hooks -------------------------------------------------------------------------------------


def _before_send(request: Any = None, **_: Any) -> None:
    """Each attempt of each AWS call: refuse it when the time is out, else bound its read timeout."""
    left = remaining()
    if left is None:
        return
    usable = left - RESERVE_SECONDS
    if usable < MIN_ATTEMPT_SECONDS:
        raise DeadlineExceeded()
    context = getattr(request, "context", None)
    if isinstance(context, dict):
        configured = getattr(context.get("client_config"), "read_timeout", None)
        context["read_timeout"] = min(float(configured), usable) if configured else usable


def _needs_retry(caught_exception: BaseException | None = None, **_: Any) -> None:
    """After a failed attempt: no retry (and its backoff) when too little time is left for one."""
    if caught_exception is None or isinstance(caught_exception, KeyportError):
        return
    left = remaining()
    if left is not None and left - RESERVE_SECONDS < MIN_RETRY_SECONDS:
        raise DeadlineExceeded() from caught_exception


def _after_call_error(exception: BaseException | None = None, **_: Any) -> None:
    """On a request path, an AWS call that timed out or lost its connection is a 503."""
    from botocore.exceptions import ConnectionError, HTTPClientError

    if remaining() is None or isinstance(exception, KeyportError):
        return
    if isinstance(exception, ConnectionError | HTTPClientError):
        raise AwsUnavailable() from exception


_installed = False


def install() -> None:
    """Add the deadline hooks to every botocore session created from now on (ours and PynamoDB's)."""
    global _installed
    if _installed:
        return
    from botocore import handlers

    handlers.BUILTIN_HANDLERS.extend(
        [
            ("before-send", _before_send, handlers.REGISTER_FIRST),
            ("needs-retry", _needs_retry, handlers.REGISTER_FIRST),
            ("after-call-error", _after_call_error, handlers.REGISTER_FIRST),
        ]
    )
    _installed = True
