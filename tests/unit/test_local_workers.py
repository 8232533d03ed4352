"""The local gateway with Lambda-like worker processes (infra/local/workers.py), over real sockets."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from infra.local.gateway import MAX_SYNC_RESPONSE_PAYLOAD, GatewayThread, LocalGateway, run_in_thread
from infra.local.workers import WorkerPool
from tests.support import lambda_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def rendezvous(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rendezvous")


@pytest.fixture(scope="module")
def gw(rendezvous: Path) -> Iterator[GatewayThread]:
    port = _free_port()
    saved = {name: os.environ.get(name) for name in ("LAMBDA_ENDPOINT_URL", "RENDEZVOUS_DIR")}
    # Workers inherit the environment they are spawned with, as a Lambda function gets its configuration.
    os.environ.update({"LAMBDA_ENDPOINT_URL": f"http://127.0.0.1:{port}", "RENDEZVOUS_DIR": str(rendezvous)})
    try:
        pool = WorkerPool("tests.support.lambda_app", 2)
        gateway = LocalGateway(lambda_app.app, port=port, run_schedules=False, function_timeout=3, workers=pool)
        handle = run_in_thread(gateway, timeout=120)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    yield handle
    handle.stop()


@pytest.fixture
def lambda_client(gw: GatewayThread) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=gw.url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1}, read_timeout=30),
    )


def test_each_invocation_runs_in_a_worker_process_with_its_own_state(gw: GatewayThread) -> None:
    answers = [requests.get(gw.url + "/whoami", timeout=10).json() for _ in range(6)]
    pids = {a["pid"] for a in answers}
    assert os.getpid() not in pids
    assert len(pids) <= 2
    # Module state lives per process: the counts of each worker add up to the requests it served.
    for pid in pids:
        served = [a["served"] for a in answers if a["pid"] == pid]
        assert served == list(range(served[0], served[0] + len(served)))


def test_concurrent_invocations_run_at_the_same_time_in_different_workers(gw: GatewayThread) -> None:
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda name: requests.get(f"{gw.url}/rendezvous/{name}", timeout=20).json(), "ab"))
    assert [a["met"] for a in answers] == [True, True]
    assert answers[0]["pid"] != answers[1]["pid"]


def test_a_worker_calls_back_into_the_gateway_over_http(gw: GatewayThread) -> None:
    answer = requests.get(gw.url + "/invoke", timeout=20).json()
    assert answer["answer"]["event"] == {"from": answer["caller"]}
    assert answer["answer"]["function"] == "workertest-dev-echo"
    assert answer["answer"]["pid"] != answer["caller"]  # the other worker served the nested call


def test_a_function_past_its_timeout_is_killed_and_its_worker_replaced(gw: GatewayThread, lambda_client: Any) -> None:
    answer = lambda_client.invoke(FunctionName="sleepy", Payload=b"{}")
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 3.00 seconds" in error["errorMessage"]
    assert {requests.get(gw.url + "/whoami", timeout=30).status_code for _ in range(4)} == {200}


def test_a_worker_that_dies_is_reported_and_replaced(gw: GatewayThread, lambda_client: Any) -> None:
    answer = lambda_client.invoke(FunctionName="crash", Payload=b"{}")
    assert answer["FunctionError"] == "Unhandled"
    assert json.loads(answer["Payload"].read())["errorType"] == "Runtime.ExitError"
    assert {requests.get(gw.url + "/whoami", timeout=30).status_code for _ in range(4)} == {200}


def test_a_result_over_lambdas_limit_is_a_function_error(lambda_client: Any) -> None:
    answer = lambda_client.invoke(FunctionName="huge", Payload=b"{}")
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "Function.ResponseSizeTooLarge"
    assert str(MAX_SYNC_RESPONSE_PAYLOAD) in error["errorMessage"]


def test_a_response_over_lambdas_limit_is_api_gateways_bare_502(gw: GatewayThread) -> None:
    fits = requests.get(gw.url + "/bytes/4600000", headers={"Accept": "application/octet-stream"}, timeout=30)
    assert fits.status_code == 200 and len(fits.content) == 4_600_000
    # 4.8 MB of body is 6.4 MB once base64-encoded in the Lambda response: over the 6 MB limit.
    over = requests.get(gw.url + "/bytes/4800000", headers={"Accept": "application/octet-stream"}, timeout=30)
    assert over.status_code == 502
    assert over.json() == {"message": "Internal server error"}
