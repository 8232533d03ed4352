"""Shared fixtures: a moto AWS with Keyport's tables and key, and the Chalice test client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# Every answer a functional test gets is checked against the OpenAPI document.
pytest_plugins = ("tests.support.contract_check",)

TEST_SECRET_KEY = "test-secret-key-0123456789"

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "STAGE": "test",
        "SECRET_KEY": TEST_SECRET_KEY,
        "ALLOW_HTTP_LOOPBACK": "1",
        # No request deadline: moto on a busy machine can take longer than API Gateway allows; the
        # deadline's own tests (tests/functional/cross_cutting/test_deadlines.py) set it.
        "REQUEST_DEADLINE_SECONDS": "0",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("KEYPORT_LOCAL", None)


@pytest.fixture
def aws_env() -> Iterator[None]:
    """moto for every AWS call, with Keyport's tables and KMS key created."""
    from moto import mock_aws

    from chalicelib import aws, catalog, crypto
    from chalicelib.settings import clear_settings

    clear_settings()
    catalog.forget_custom()
    with mock_aws():
        aws.reset()
        crypto.keyring.clear()
        from infra.local.bootstrap import bootstrap

        bootstrap()
        yield
    aws.reset()
    crypto.keyring.clear()


@pytest.fixture
def client(aws_env: None) -> Iterator[Any]:
    """The Chalice test client over the Keyport app."""
    from chalice.test import Client

    from app import app

    with Client(app) as test_client:
        yield test_client
