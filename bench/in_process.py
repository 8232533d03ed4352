"""What the in-process benchmarks share: their environment, and the app over moto with its tables and key."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SECRET_KEY = "bench-secret-key"
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "STAGE": "bench",
    "SECRET_KEY": SECRET_KEY,
}
#: The operator's HTTP Basic header (user: the secret key).
OPERATOR = {"Authorization": "Basic " + base64.b64encode(f"{SECRET_KEY}:".encode()).decode()}


def set_environment(**extra: str) -> None:
    """The benchmarks' environment, for moto in this process (no emulator endpoint)."""
    os.environ.update({**ENVIRONMENT, **extra})
    os.environ.pop("AWS_ENDPOINT_URL", None)


@contextmanager
def app_client() -> Iterator[Any]:
    """The app's test client over moto, with every table and the KMS key created."""
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib import aws
    from chalicelib.settings import clear_settings

    clear_settings()
    with mock_aws():
        aws.reset()
        from infra.local.bootstrap import bootstrap

        bootstrap()
        from app import app

        with Client(app) as client:
            yield client
