"""The ``context`` the Lambda Python runtime passes to a handler, as the local gateway and its workers build it."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

DEFAULT_ACCOUNT_ID = "123456789012"

# What a worker copies from the gateway's context besides the function name (the deadline goes as time left).
_COPIED = (
    "aws_request_id",
    "function_version",
    "memory_limit_in_mb",
    "invoked_function_arn",
    "log_group_name",
    "log_stream_name",
)


def aws_region() -> str:
    """The region Lambda would run in (``AWS_REGION``), as the SDK reads it."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


class FakeLambdaContext:
    """What the Lambda Python runtime passes as ``context`` (the attributes apps actually read)."""

    def __init__(
        self,
        function_name: str,
        *,
        timeout: float = 60.0,
        memory_limit_in_mb: int = 128,
        region: str | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        region = region or aws_region()
        self.aws_request_id: str = str(uuid.uuid4())
        self.function_name: str = function_name
        self.function_version: str = "$LATEST"
        # The real runtime reads this from AWS_LAMBDA_FUNCTION_MEMORY_SIZE, so it is a string there too.
        self.memory_limit_in_mb: str = str(memory_limit_in_mb)
        self.invoked_function_arn: str = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.log_group_name: str = f"/aws/lambda/{function_name}"
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        self.log_stream_name: str = f"{day}/[$LATEST]{uuid.uuid4().hex}"
        self.identity: Any = None
        self.client_context: Any = None
        self._deadline = time.monotonic() + timeout

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> FakeLambdaContext:
        """The same context in a worker process, rebuilt from :func:`context_fields` (same ids, same deadline)."""
        context = cls(fields["function_name"], timeout=fields["remaining_ms"] / 1000)
        for name in _COPIED:
            setattr(context, name, fields[name])
        return context

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def context_fields(context: Any) -> dict[str, Any]:
    """What a worker needs to rebuild the Lambda context (the deadline as time remaining)."""
    fields = {name: getattr(context, name) for name in ("function_name", *_COPIED)}
    return {**fields, "remaining_ms": context.get_remaining_time_in_millis()}
