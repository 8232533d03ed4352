"""One moto AWS per broker test module, emptied between tests (as tests/support/moto_stack.py does).

The root ``aws_env`` fixture creates every table of every service for each test; the broker's tests
need the broker's five tables, the two integrations tables the catalog and the refresh read, and the
KMS key. ``tests/functional/broker/conftest.py`` opts every broker test module in (a module-scoped
fixture entering ``broker_aws()``, and an ``aws_env`` override calling ``empty_broker_tables()``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.moto_stack import create_tables, moto_aws, reread_settings


def broker_models() -> list[Any]:
    """The tables the broker reads and writes (custom integrations and configurations for refreshing)."""
    from chalicelib.broker.models import AuditEntry, Connection, Customer, Grant, Instance
    from chalicelib.oauth.models import Configuration, CustomIntegration

    return [Customer, Instance, Connection, Grant, AuditEntry, CustomIntegration, Configuration]


@contextmanager
def broker_aws() -> Iterator[None]:
    """moto with the broker's tables and Keyport's KMS key, for as long as the block runs."""
    reread_settings()  # here, outside any request (the test client patches in the dev stage's variables)
    with moto_aws(lambda: create_tables(broker_models())):
        yield


def empty_broker_tables() -> None:
    """Delete every item of the broker's tables and forget what the process cached about them."""
    from chalicelib import aws, catalog, crypto

    dynamodb = aws.client("dynamodb")
    for model in broker_models():
        keys = [model._hash_keyname] + ([model._range_keyname] if model._range_keyname else [])
        names = {f"#k{i}": name for i, name in enumerate(keys)}
        pages = dynamodb.get_paginator("scan").paginate(
            TableName=model.Meta.table_name, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
        )
        for page in pages:
            for item in page.get("Items", []):
                dynamodb.delete_item(TableName=model.Meta.table_name, Key=item)
    catalog.forget_custom()
    crypto.keyring.clear()
