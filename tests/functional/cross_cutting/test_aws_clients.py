"""One botocore session per process: every table and every client share one loader and one DynamoDB client.

PynamoDB alone makes a session, a loader and a client per table; each reads botocore's endpoints and
the DynamoDB model again on a cold start (bench/first_request.py measures what that costs).
"""

from __future__ import annotations

from chalicelib import aws


def test_every_table_uses_the_one_dynamodb_client(aws_env: None) -> None:
    from chalicelib.broker.models import Customer
    from chalicelib.entities.models import PlatformUser
    from chalicelib.integrations.models import Authentication

    shared = aws.client("dynamodb")
    for model in (Authentication, Customer, PlatformUser):
        assert model._get_connection().connection.client is shared, model.__name__
    assert Authentication.count() == 0  # and it answers, under the mock


def test_every_client_is_made_by_one_session(aws_env: None) -> None:
    loaders = {id(aws.client(service)._loader) for service in ("dynamodb", "kms", "s3", "lambda")}
    assert len(loaders) == 1


def test_reset_makes_new_clients_for_the_tables(aws_env: None) -> None:
    from chalicelib.integrations.models import Authentication

    before = Authentication._get_connection().connection.client
    aws.reset()
    after = Authentication._get_connection().connection.client
    assert after is not before
    assert after is aws.client("dynamodb")


def test_the_shared_clients_keep_enough_connections_for_the_sweeps_threads(aws_env: None) -> None:
    sweep_threads = 16  # chalicelib/jobs/refresh_sweep.py: its threads share the one DynamoDB client
    assert aws.client("dynamodb").meta.config.max_pool_connections >= sweep_threads
