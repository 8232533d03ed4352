"""What one refresh costs in a sweep: two DynamoDB calls (the lease, the save), the configuration read once a sweep.

Counted by wrapping botocore (tests/support/aws_calls.py), per table, so the count is the refresh's own and
not the due index's Queries or the activity log's PutItem. Fixtures: tests/functional/jobs/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.aws_calls import counting_dynamodb_calls, on_table
from tests.support.oauth2_provider import OAuth2Provider
from tests.support.sweep_stack import CLIENT_SECRET, DUE_LIFETIME, LATER_LIFETIME, PLENTY, api

DUE = 4


def sweep() -> Any:
    from chalicelib.jobs import refresh_sweep

    return refresh_sweep.run(PLENTY)


def test_a_sweep_refresh_makes_two_dynamodb_calls_and_reads_the_configuration_once(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    from chalicelib.integrations.models import Authentication, Configuration

    for _ in range(DUE):
        acme(DUE_LIFETIME)
    acme(LATER_LIFETIME)

    with counting_dynamodb_calls() as calls:
        report = sweep()

    assert (report.selected, report.refreshed, report.failed) == (DUE, DUE, 0)
    assert len(provider.grants("refresh_token")) == DUE
    authentications = on_table(calls, Authentication.Meta.table_name)
    reads = authentications.pop("Query", 0)  # the due index, one Query per shard: the sweep's, not a refresh's
    assert reads > 0
    assert authentications == {"UpdateItem": DUE, "PutItem": DUE}  # the lease and the save, nothing else
    assert sum(authentications.values()) / DUE == 2
    assert on_table(calls, Configuration.Meta.table_name) == {"GetItem": 1}  # one configuration, one read


def test_each_sweep_reads_the_configuration_afresh(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    acme(DUE_LIFETIME)
    provider.access_token_lifetime = DUE_LIFETIME  # refreshed tokens are due again at once
    assert sweep().refreshed == 1
    status, listed = api(client, "GET", "/api/acme/configurations")
    assert status == 200
    setup_id = listed["data"][0]["id"]
    rotated = {"clientId": "keyport-client", "clientSecret": "rotated-secret-0002"}
    status, _ = api(client, "PUT", f"/api/acme/configurations/{setup_id}", {"credentials": rotated})
    assert status == 200

    sweep()

    sent = [r.form.get("client_secret") for r in provider.grants("refresh_token")]
    assert sent == [CLIENT_SECRET, "rotated-secret-0002"]
