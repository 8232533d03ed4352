"""One local gateway per test module, serving the app of tests/support/gateway_app.py in-process."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from infra.local.gateway import GatewayThread, LocalGateway, run_in_thread
from tests.support.gateway_app import CREDENTIALS, app


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayThread]:
    gateway = LocalGateway(app, port=0, run_schedules=False)
    handle = run_in_thread(gateway)
    gateway.configure_websocket_api(boto3.session.Session(**CREDENTIALS))
    yield handle
    handle.stop()
