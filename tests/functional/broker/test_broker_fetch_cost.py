"""What a runtime fetch costs, by table and operation: two reads, one write, and no KMS call once warm.

The write is the audit entry; a connection's ``last_used_at`` is kept to the minute, set together with
the entry (one TransactWriteItems) by the first fetch through a grant and then at most once a minute.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.support.aws_calls import counting_dynamodb_calls, on_table
from tests.support.broker_api import BrokerApi

MINUTE_AND_A_BIT_MS = 61_000


@pytest.fixture
def granted(api: BrokerApi) -> dict[str, Any]:
    """A customer's xero connection (an API key) granted to one of its instances with read_invoices."""
    customer = api.new_customer()
    instance = api.new_instance(customer["id"], "books agent")
    connection = api.new_connection(
        customer, name="Books", provider="xero", auth_type="api_key", credentials={"api_key": "xk_cost"}
    )
    assert api.grant(customer, connection["id"], instance["id"], ["read_invoices"]).status == 201
    return {"customer": customer, "instance": instance, "connection": connection}


def _fetch(api: BrokerApi, granted: dict[str, Any]) -> tuple[Any, Counter[tuple[str, str]], Counter[str]]:
    """One fetch of the xero credentials, its DynamoDB calls (operation, table) and its KMS calls."""
    from bench.calls import counting_aws_calls

    instance = granted["instance"]
    kms_calls = counting_aws_calls(lambda service, operation, _: operation if service == "kms" else None)
    with kms_calls as kms, counting_dynamodb_calls() as calls:
        answer = api.fetch(instance["id"], instance["proxy_key"], provider="xero", capability="read_invoices")
    assert answer.status == 200, answer.body
    assert answer.body == {"credentials": {"api_key": "xk_cost"}, "capabilities": ["read_invoices"]}
    return answer, calls, kms


def _by_table(calls: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    from chalicelib.broker.models import AuditEntry, Connection, Grant, Instance

    tables = {"instances": Instance, "grants": Grant, "connections": Connection, "audit": AuditEntry}
    assert {table for _operation, table in calls} <= {model.Meta.table_name for model in tables.values()}
    return {name: on_table(calls, model.Meta.table_name) for name, model in tables.items()}


def _last_used(api: BrokerApi, granted: dict[str, Any]) -> str | None:
    used: str | None = api.connection(granted["customer"], granted["connection"]["id"])["last_used_at"]
    return used


def _backdate_last_use(granted: dict[str, Any], by_ms: int) -> None:
    """Move the grant's and the connection's last use ``by_ms`` into the past, as if no fetch came since."""
    from chalicelib.broker.models import Connection, Grant

    customer_id, connection_id = granted["customer"]["id"], granted["connection"]["id"]
    (grant,) = Grant.query(granted["instance"]["id"])
    connection = Connection.get(customer_id, connection_id)
    grant.update(actions=[Grant.last_used_at.set(grant.last_used_at - by_ms)])
    connection.update(actions=[Connection.last_used_at.set(connection.last_used_at - by_ms)])


def test_a_warm_fetch_makes_one_getitem_one_query_one_putitem_and_no_kms_call(
    api: BrokerApi, granted: dict[str, Any]
) -> None:
    _fetch(api, granted)  # fills the key cache and sets last_used_at

    _answer, calls, kms = _fetch(api, granted)

    assert sum(calls.values()) == 3
    assert _by_table(calls) == {
        "instances": {"GetItem": 1},  # the instance and its key hash, by the path's id
        "grants": {"Query": 1},  # its grants of the provider, with the credentials' copy
        "connections": {},  # last_used_at was set under a minute ago
        "audit": {"PutItem": 1},  # the fetch, recorded before it is answered
    }
    assert kms == Counter()


def test_a_cold_fetch_adds_one_kms_decrypt_and_nothing_else(api: BrokerApi, granted: dict[str, Any]) -> None:
    from chalicelib import crypto

    _fetch(api, granted)
    crypto.keyring.clear()  # as in a fresh process

    _answer, calls, kms = _fetch(api, granted)

    assert kms == Counter({"Decrypt": 1})
    assert {(op, n) for (op, _t), n in calls.items()} == {("GetItem", 1), ("Query", 1), ("PutItem", 1)}


def test_the_first_fetch_through_a_grant_sets_last_used_at_and_records_in_one_write(
    api: BrokerApi, granted: dict[str, Any]
) -> None:
    assert _last_used(api, granted) is None

    _answer, calls, _kms = _fetch(api, granted)

    assert sum(calls.values()) == 3
    tables = _by_table(calls)
    assert tables["instances"] == {"GetItem": 1} and tables["grants"] == {"Query": 1}
    transactions = [(op, n) for (op, _t), n in calls.items() if op == "TransactWriteItems"]
    assert transactions == [("TransactWriteItems", 1)]  # the entry, the connection's and the grant's last use
    assert _last_used(api, granted) is not None
    entries = api.audit(granted["customer"], granted["connection"]["id"]).body["entries"]
    assert [(e["outcome"], e["status_code"], e["capability"]) for e in entries] == [("granted", 200, "read_invoices")]


def test_last_used_at_is_kept_to_the_minute(api: BrokerApi, granted: dict[str, Any]) -> None:
    _fetch(api, granted)
    first = _last_used(api, granted)
    _fetch(api, granted)
    assert _last_used(api, granted) == first  # under a minute later: the entry alone

    _backdate_last_use(granted, MINUTE_AND_A_BIT_MS)
    backdated = _last_used(api, granted)
    _answer, calls, _kms = _fetch(api, granted)

    assert ("TransactWriteItems", 1) in {(op, n) for (op, _t), n in calls.items()}
    now = _last_used(api, granted)
    assert backdated is not None and now is not None and now > backdated
    assert len(api.audit(granted["customer"], granted["connection"]["id"]).body["entries"]) == 3


def test_a_connection_gone_before_its_last_use_is_set_answers_404_and_is_recorded_as_deleted(
    api: BrokerApi, granted: dict[str, Any]
) -> None:
    from chalicelib.broker.models import AuditEntry, Connection

    customer_id, connection_id = granted["customer"]["id"], granted["connection"]["id"]
    Connection(customer_id, connection_id).delete()  # the grant item is still there: a deletion in flight
    instance = granted["instance"]

    answer = api.fetch(instance["id"], instance["proxy_key"], provider="xero")

    assert answer.status == 404
    assert answer.detail() == "The connection was deleted."
    entries = list(AuditEntry.query(customer_id))
    assert [(e.outcome, e.status_code, e.connection_id) for e in entries] == [("deleted", 404, connection_id)]
