"""Answers over Lambda's 6 MB response limit are refused in the service's own error body (chalicelib/limits.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.app import Request, Response

from chalicelib import errors, limits
from infra.local.gateway import MAX_SYNC_RESPONSE_PAYLOAD, FakeLambdaContext


def _request(path: str) -> Request:
    event = {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": {"Accept": "*/*"},
        "multiValueHeaders": {"Accept": ["*/*"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"httpMethod": "GET", "resourcePath": "/{proxy+}", "requestId": "req-1", "path": path},
        "body": None,
        "isBase64Encoded": False,
    }
    return Request(event, FakeLambdaContext("keyport-test"))


def _through_the_middleware(path: str, response: Response) -> Response:
    from app import error_boundary

    answer: Response = error_boundary(_request(path), lambda request: response)
    return answer


def _lambda_payload(response: Response) -> int:
    return len(json.dumps(response.to_dict(["*/*"])))


def test_the_limit_agrees_with_the_local_gateways() -> None:
    assert limits.LAMBDA_RESPONSE_BYTES == MAX_SYNC_RESPONSE_PAYLOAD
    assert 4_500_000 < limits.MAX_RESPONSE_BODY_BYTES < 4_718_592  # about 4.5 MB, under 6 MB once base64-encoded


@pytest.mark.parametrize("size", [limits.MAX_RESPONSE_BODY_BYTES, 4_700_000])
def test_the_encoded_size_covers_what_lambda_returns(size: int) -> None:
    response = Response(body=b"x" * size, headers={"Content-Type": "application/octet-stream", "X-Id": "1"})
    assert limits.encoded_size(response) >= _lambda_payload(response)
    dict_body = Response(body={"items": ["é" * 100] * (size // 200)}, headers={"Content-Type": "application/json"})
    assert limits.encoded_size(dict_body) >= _lambda_payload(dict_body)


def test_a_body_that_fits_passes_unchanged() -> None:
    body = b"x" * limits.MAX_RESPONSE_BODY_BYTES
    response = Response(body=body, headers={"Content-Type": "application/octet-stream"})
    assert _through_the_middleware("/proxy/github/big", response) is response
    assert _lambda_payload(response) <= limits.LAMBDA_RESPONSE_BYTES


_MESSAGE = errors.ResponseTooLarge.default_message


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/proxy/github/repos", {"error": {"type": "response_too_large", "message": _MESSAGE}}),
        ("/projects", {"error": _MESSAGE}),
        ("/v1/customers/c1/connections", {"detail": _MESSAGE}),
        ("/api/v1/tags", {"status": "502 Bad Gateway", "message": _MESSAGE}),
    ],
)
def test_an_oversized_answer_is_a_documented_502_in_the_services_body(path: str, body: dict[str, Any]) -> None:
    big = Response(body=b"x" * 4_800_000, headers={"Content-Type": "application/octet-stream"})
    answer = _through_the_middleware(path, big)
    assert answer.status_code == 502
    assert json.loads(answer.body) == body
    assert _lambda_payload(answer) < 10_000
