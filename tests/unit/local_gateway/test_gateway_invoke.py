"""Lambda Invoke: RequestResponse, Event, function names and errors, through boto3."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.config import Config

from infra.local.gateway import GatewayThread
from tests.support.gateway_app import CREDENTIALS, rec, wait_until


@pytest.fixture(scope="module")
def lambda_client(gw: GatewayThread) -> Any:
    return boto3.client("lambda", endpoint_url=gw.url, config=Config(retries={"max_attempts": 1}), **CREDENTIALS)


def test_invoke_event_runs_later(gw: GatewayThread, lambda_client: Any) -> None:
    response = lambda_client.invoke(FunctionName="worker", InvocationType="Event", Payload=b'{"job": "later"}')
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    seen = wait_until(lambda: [w for w in rec.get("worker") if w["event"] == {"job": "later"}])
    assert seen[0]["function_name"] == "gwtest-dev-worker"


def test_invoke_request_response_and_names(gw: GatewayThread, lambda_client: Any) -> None:
    for name in ("worker", "gwtest-dev-worker", "arn:aws:lambda:us-east-1:123456789012:function:gwtest-dev-worker"):
        response = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"n": name}).encode())
        assert response["StatusCode"] == 200
        assert "FunctionError" not in response
        assert json.loads(response["Payload"].read()) == {"ok": True, "echo": {"n": name}}


def test_invoke_errors(gw: GatewayThread, lambda_client: Any) -> None:
    response = lambda_client.invoke(FunctionName="explode", Payload=b"{}")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "kaboom"
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="nope", Payload=b"{}")
