"""One moto AWS per test module for the integrations service, emptied between tests.

The root ``aws_env`` fixture builds a whole new AWS per test: every table of every service, each
through a new botocore session (about 8 s). The integrations tests need three tables and the key;
making them once per module and emptying them between tests keeps the same isolation at a fraction
of the cost. Nothing here outlives its module: the mock stops when the module ends, so no other
test runs inside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

Models = Callable[[], list[Any]]


def integration_models() -> list[Any]:
    """The tables the REST API uses (not the connect flow's OAuth states: each table costs a botocore session)."""
    from chalicelib.integrations.models import Authentication
    from chalicelib.oauth.models import Configuration, CustomIntegration

    return [CustomIntegration, Configuration, Authentication]


def connect_flow_models() -> list[Any]:
    """The REST API's tables plus the connect flow's OAuth states."""
    from chalicelib.integrations.models import OAuthState

    return [*integration_models(), OAuthState]


def sweep_models() -> list[Any]:
    """The connect flow's tables plus the broker's connections, whose due index the sweep reads too, and
    the activity log the sweep writes."""
    from chalicelib.activity.models import ActivityEvent
    from chalicelib.broker.models import Connection

    return [*connect_flow_models(), Connection, ActivityEvent]


def reread_settings() -> None:
    """Re-read the settings now, outside any request: the Chalice test client runs each request with the
    'dev' stage's environment variables, and settings first read there would name the dev tables and key."""
    from chalicelib.settings import clear_settings, get_settings

    clear_settings()
    get_settings()


def set_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    """Set environment variables (undone with ``monkeypatch``) and re-read the settings."""
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    reread_settings()


@contextmanager
def moto_aws(create: Callable[[], object]) -> Iterator[None]:
    """moto for every AWS call while the block runs, holding what ``create`` makes (tables, the key...).

    The process's AWS clients, cached data keys and custom integrations are forgotten on the way in and
    out: a client made before the mock would escape it, and one made inside must not outlive it.
    """
    from moto import mock_aws

    from chalicelib import aws, catalog, crypto

    catalog.forget_custom()
    with mock_aws():
        aws.reset()
        crypto.keyring.clear()
        create()
        try:
            yield
        finally:
            aws.reset()
            crypto.keyring.clear()
            catalog.forget_custom()


def create_tables(models: list[Any], *, key: bool = True) -> None:
    """Create the tables of ``models`` (moto tables are usable at once) and, unless not ``key``, the KMS key."""
    from infra.local.bootstrap import create_key

    for model in models:
        model.create_table(billing_mode="PAY_PER_REQUEST")
    if key:
        create_key()


@contextmanager
def integrations_aws(models: Models = integration_models) -> Iterator[None]:
    """moto with the integrations tables (or ``models``) and Keyport's KMS key, while the block runs."""
    reread_settings()  # here, outside any request (the test client patches in the dev stage's variables)
    with moto_aws(lambda: create_tables(models())):
        yield


def empty_tables(models: Models = integration_models) -> None:
    """Delete every item of the integrations tables (or ``models``) and forget what the process cached."""
    from chalicelib import catalog, crypto

    for model in models():
        with model.batch_write() as batch:
            for item in model.scan():
                batch.delete(item)
    catalog.forget_custom()
    crypto.keyring.clear()


@contextmanager
def atomic_requests() -> Iterator[None]:
    """Have moto answer one request at a time, as DynamoDB applies each conditional write atomically.

    moto checks a write's condition and then applies the write in separate Python steps, so threads
    racing on one item can both pass the condition (measured: 15 of 200 five-thread races on a
    conditional update had two winners). Serialising moto's request handling restores the guarantee
    the application relies on; the application itself is untouched, and calls to anything but AWS
    (a local OAuth provider) still run concurrently.
    """
    import threading

    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.Lock()
    original = BotocoreStubber.process_request

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return original(self, request)

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.process_request = original  # type: ignore[method-assign]


def at_once(calls: list[Callable[[], Any]], timeout: float = 60) -> list[Any]:
    """Run ``calls`` in one thread each, all at once, with moto answering one request at a time
    (:func:`atomic_requests`); their results, in the order they finished."""
    import threading

    results: list[Any] = []

    def run(call: Callable[[], Any]) -> None:
        results.append(call())

    with atomic_requests():
        threads = [threading.Thread(target=run, args=(call,)) for call in calls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=timeout)
    return results
