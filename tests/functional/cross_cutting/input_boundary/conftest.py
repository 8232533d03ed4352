"""Fixtures of the input-boundary tests: one AWS per module with every Keyport table, the key and the
bucket, a GitHub stand-in, background work recorded, and the records every case checks nothing changes
around (a broker customer, a publishing superuser and group, an entity-store user and entity)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.broker_api import BrokerApi
from tests.support.entities_stack import Platform, RecordingLambda, RecordingManagement
from tests.support.github_server import github_stand_in
from tests.support.input_boundary import GITHUB_TOKEN, OPERATOR, World, send
from tests.support.pizzly import PizzlyApi


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """The app over moto with every Keyport table, the key and the bucket (made once for this module), and a
    GitHub stand-in accepting :data:`GITHUB_TOKEN`."""
    from chalice.test import Client
    from moto import mock_aws

    from app import app
    from chalicelib import aws, catalog, crypto
    from chalicelib.settings import clear_settings, get_settings
    from infra.local.bootstrap import bootstrap

    with pytest.MonkeyPatch.context() as patch, github_stand_in() as github:
        github.accept(GITHUB_TOKEN, 4242)
        patch.setenv("GITHUB_API_URL", github.url)
        clear_settings()
        get_settings()  # read outside any request (the test client patches in the dev stage's variables)
        catalog.forget_custom()
        with mock_aws(), Client(app) as test_client:
            aws.reset()
            crypto.keyring.clear()
            bootstrap()
            try:
                yield test_client
            finally:
                aws.reset()
                crypto.keyring.clear()
                catalog.forget_custom()
        clear_settings()


@pytest.fixture(autouse=True)
def lambdas(client: Any) -> RecordingLambda:
    """Lambda and the websocket management API as recorders, new for each test (background work is queued)."""
    from chalicelib import aws

    recorder = RecordingLambda()
    aws.inject("lambda", recorder)
    aws.inject("apigatewaymanagementapi", RecordingManagement())
    return recorder


@pytest.fixture(scope="module")
def world(client: Any) -> World:
    """Made once for the module; its records stay, and every case checks that nothing changes around them."""
    from chalicelib import aws

    aws.inject("lambda", RecordingLambda())
    customer = BrokerApi(client).new_customer("Boundary Pty Ltd")
    configuration = PizzlyApi(client).configuration("github")
    root = send(client, "POST", "/admin/autotune/users", OPERATOR, '{"email": "root@example.com", "superuser": true}')
    group = send(client, "POST", "/admin/autotune/groups", OPERATOR, '{"name": "Newsroom"}')
    assert root.status == 201 and group.status == 201, (root, group)
    platform = Platform(client)
    platform.add_user("ann", "ops")
    signed_in = platform.sign_in("ann")
    entity = platform.call("POST", "/api/v1/things", {"name": "pump"}, signed_in)
    assert entity.status == 200, entity.text
    assert send(client, "GET", "/api/v1/users", {"X-Github-Token": GITHUB_TOKEN}).status == 200  # registers
    return World(client, customer, configuration, root.body["api_key"], group.body, signed_in, entity.body["_id"])
