"""What one refresh costs in a sweep: two DynamoDB calls (the lease, the save), the configuration read once a
sweep, and a 25th of a BatchWriteItem for its activity-log entry (the sweep writes the entries together; a
request's refresh writes its entry at once).

Counted by wrapping botocore (tests/support/aws_calls.py), per table, so the count is the refresh's own and
not the due index's Queries. Fixtures: tests/functional/jobs/conftest.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from tests.support.aws_calls import counting_dynamodb_calls, on_table
from tests.support.oauth2_provider import OAuth2Provider
from tests.support.sweep_stack import CLIENT_SECRET, DUE_LIFETIME, LATER_LIFETIME, PLENTY, api

DUE = 4
MORE_THAN_A_BATCH = 27  # two BatchWriteItem calls: 25 entries, then 2


def sweep() -> Any:
    from chalicelib.jobs import refresh_sweep

    return refresh_sweep.run(PLENTY)


def refreshed_entries() -> list[str]:
    """The subjects of the activity log's "refreshed" entries, as the dashboard's activity page reads them."""
    from chalicelib import activity
    from chalicelib.http import now_ms

    events, _ = activity.recent(1000, None, now_ms())
    return sorted(e.subject for e in events if e.kind == "authentication.refreshed" and e.actor == "refresh")


def test_a_sweep_refresh_makes_two_dynamodb_calls_and_reads_the_configuration_once(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    from chalicelib.activity.models import ActivityEvent
    from chalicelib.integrations.models import Authentication
    from chalicelib.oauth.models import Configuration

    due = [acme(DUE_LIFETIME) for _ in range(DUE)]
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
    assert on_table(calls, ActivityEvent.Meta.table_name) == {"BatchWriteItem": 1}  # the entries, together
    assert refreshed_entries() == sorted(f"acme/{auth_id}" for auth_id in due)


def test_a_sweep_writes_its_activity_entries_25_to_a_call_and_loses_none(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    from chalicelib.activity.models import ActivityEvent
    from chalicelib.integrations.models import Authentication

    due = [acme(DUE_LIFETIME) for _ in range(MORE_THAN_A_BATCH)]

    with counting_dynamodb_calls() as calls:
        report = sweep()

    assert report.refreshed == MORE_THAN_A_BATCH
    written = on_table(calls, ActivityEvent.Meta.table_name)
    assert written == {"BatchWriteItem": math.ceil(MORE_THAN_A_BATCH / 25)} == {"BatchWriteItem": 2}
    authentications = on_table(calls, Authentication.Meta.table_name)
    authentications.pop("Query", 0)  # the due index
    assert authentications == {"UpdateItem": len(due), "PutItem": len(due)}  # still two calls a refresh
    assert refreshed_entries() == sorted(f"acme/{auth_id}" for auth_id in due)


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


def test_a_refresh_on_a_request_writes_its_activity_entry_at_once(
    client: Any, provider: OAuth2Provider, acme: Callable[[int], str]
) -> None:
    from chalicelib.activity.models import ActivityEvent

    auth_id = acme(LATER_LIFETIME)

    with counting_dynamodb_calls() as calls:
        status, _ = api(client, "POST", f"/api/acme/authentications/{auth_id}/refresh")

    assert status == 200
    assert len(provider.grants("refresh_token")) == 1
    assert on_table(calls, ActivityEvent.Meta.table_name) == {"PutItem": 1}  # no batch waits on a request
    assert refreshed_entries() == [f"acme/{auth_id}"]
