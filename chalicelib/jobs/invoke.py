"""Asynchronous invocation of Keyport's own Lambda functions (work taken off the request path).

Deployed, ``FUNCTION_PREFIX`` + name is the function Chalice created for ``@app.lambda_function(name=…)``;
locally, ``LAMBDA_ENDPOINT_URL`` points the Lambda client at the local gateway, which emulates Invoke.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib import aws
from chalicelib.errors import ServiceUnavailable
from chalicelib.settings import get_settings


def function_name(name: str) -> str:
    """The deployed name of one of Keyport's functions."""
    return get_settings().function_prefix + name


def invoke_async(name: str, payload: dict[str, Any]) -> None:
    """Queue one invocation of function ``name`` with ``payload``; 503 when Lambda refuses."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        aws.client("lambda").invoke(
            FunctionName=function_name(name),
            InvocationType="Event",
            Payload=json.dumps(payload, separators=(",", ":")).encode(),
        )
    except (BotoCoreError, ClientError) as e:
        raise ServiceUnavailable("Background work could not be queued; try again shortly.") from e
