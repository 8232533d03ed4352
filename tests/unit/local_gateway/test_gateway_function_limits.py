"""Each function's timeout and memory: what .chalice/config.json gives it for the stage, as on AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from infra.local.function_limits import FunctionLimits, limits, read_config
from infra.local.gateway import GatewayThread, LocalGateway, run_in_thread
from tests.support.gateway_app import CREDENTIALS, app, rec, wait_until

CHALICE_CONFIG: dict[str, Any] = {
    "lambda_timeout": 29,
    "lambda_memory_size": 512,
    "lambda_functions": {
        "worker": {"lambda_timeout": 300, "lambda_memory_size": 1024},
        "tick": {"lambda_timeout": 120},
        "websocket_connect": {"lambda_timeout": 10},
        "websocket_message": {"lambda_timeout": 20},
    },
    "stages": {
        "dev": {"lambda_functions": {"tick": {"lambda_timeout": 90}}},
        "prod": {"lambda_timeout": 45, "lambda_memory_size": 2048},
    },
}


@pytest.mark.parametrize(
    ("stage", "function", "expected"),
    [
        ("dev", "worker", FunctionLimits(300.0, 1024)),  # the function's own
        ("dev", "tick", FunctionLimits(90.0, 512)),  # the stage's for the function first
        ("dev", "api_handler", FunctionLimits(29.0, 512)),  # the global ones
        ("prod", "api_handler", FunctionLimits(45.0, 2048)),  # the stage's over the global ones
        ("prod", "tick", FunctionLimits(45.0, 2048)),  # Chalice's order: the stage's before lambda_functions'
    ],
)
def test_a_function_gets_what_chalice_would_deploy_it_with(stage: str, function: str, expected: FunctionLimits) -> None:
    assert limits(CHALICE_CONFIG, stage, function) == expected


def test_without_a_setting_a_function_gets_chalices_defaults() -> None:
    assert limits({}, "dev", "worker") == FunctionLimits(60.0, 128)


def test_keyports_refresh_workers_get_their_five_minutes() -> None:
    config = read_config()
    assert limits(config, "dev", "refresh_worker").timeout == 300
    assert limits(config, "dev", "build_worker") == FunctionLimits(300.0, 1024)
    assert limits(config, "dev", "api_handler") == FunctionLimits(29.0, 512)


@pytest.fixture(scope="module")
def configured() -> Iterator[GatewayThread]:
    handle = run_in_thread(LocalGateway(app, port=0, run_schedules=False, chalice_config=CHALICE_CONFIG))
    yield handle
    handle.stop()


def test_each_function_is_called_with_its_own_timeout_and_memory(configured: GatewayThread) -> None:
    lambda_client = boto3.client(
        "lambda", endpoint_url=configured.url, config=Config(retries={"max_attempts": 1}), **CREDENTIALS
    )
    response = lambda_client.invoke(FunctionName="worker", Payload=json.dumps({"job": "limits"}).encode())
    assert response["StatusCode"] == 200
    [seen] = wait_until(lambda: [w for w in rec.get("worker") if w["event"] == {"job": "limits"}])
    assert 250_000 < seen["remaining_ms"] <= 300_000 and seen["memory"] == "1024"

    api = requests.get(configured.url + "/context", timeout=5).json()  # api_handler: the global settings
    assert 20_000 < api["remaining"] <= 29_000 and api["memory_limit_in_mb"] == "512"

    gateway = configured.gateway
    assert gateway.function_limits("ws_connect") == FunctionLimits(10.0, 512)  # deployed as websocket_connect
    assert gateway.function_limits("ws_message") == FunctionLimits(20.0, 512)  # deployed as websocket_message
    assert gateway.function_limits("tick") == FunctionLimits(90.0, 512)


def test_a_timeout_given_to_the_gateway_applies_to_every_function() -> None:
    gateway = LocalGateway(app, port=0, chalice_config=CHALICE_CONFIG, function_timeout=3, memory_limit_in_mb=256)
    assert gateway.function_limits("worker") == FunctionLimits(3, 256)
    assert gateway.function_limits(None) == FunctionLimits(3, 256)
