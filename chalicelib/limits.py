"""The size limit of what a Keyport function may answer, checked before Lambda enforces it blindly.

Lambda returns at most 6,291,556 bytes of JSON from a synchronous invocation; API Gateway answers a
larger proxy response with a bare 502 ``{"message": "Internal server error"}``. Every body is
base64-encoded on its way out (the binary media types are ``*/*``), so a body counts 4/3 of its size:
about 4.5 MB of body fits. The middleware in ``app.py`` refuses a larger answer with
:class:`~chalicelib.errors.ResponseTooLarge` in the service's documented error body instead.
"""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Response, handle_extra_types

from chalicelib import errors

#: Lambda's limit on a synchronous invocation's response (the proxy response as JSON).
LAMBDA_RESPONSE_BYTES = 6_291_556
#: Room for the status code, the headers and the JSON around the body.
_ENVELOPE_BYTES = 16 * 1024
#: The largest body (before base64) a response may carry, headers included in the envelope above.
#: Code that relays bodies it does not control (the proxy's upstream responses) caps them at this.
MAX_RESPONSE_BODY_BYTES = (LAMBDA_RESPONSE_BYTES - _ENVELOPE_BYTES) // 4 * 3


def encoded_size(response: Response) -> int:
    """What ``response`` weighs as the Lambda proxy response JSON, body base64-encoded."""
    body: Any = response.body
    if not isinstance(body, str | bytes):
        body = json.dumps(body, separators=(",", ":"), default=handle_extra_types)
    size = len(body.encode("utf-8")) if isinstance(body, str) else len(body)
    headers = 0
    for name, value in (response.headers or {}).items():
        for item in value if isinstance(value, list) else [value]:
            headers += len(name) + len(str(item)) + 8
    return 4 * ((size + 2) // 3) + headers + 256  # statusCode, isBase64Encoded, keys and punctuation


def refuse_oversized(response: Response) -> None:
    """Raise :class:`errors.ResponseTooLarge` for a response Lambda could not return."""
    if encoded_size(response) > LAMBDA_RESPONSE_BYTES:
        raise errors.ResponseTooLarge()
