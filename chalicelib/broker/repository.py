"""Keys, queries, conditions and transactions of the credential broker's tables.

Writes that must hold together go in one transaction whose conditions DynamoDB checks: a connection
and the copies of its credentials on its grants; a grant and the connection's grant map; a new child
and its parent still being there. Such functions return False when a condition failed (or another
transaction raced on the same item); the service re-reads and decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.broker.models import AuditEntry, Connection, Customer, Grant, Instance
from chalicelib.dynamo import is_conditional_failure, translated, updated
from chalicelib.errors import ServiceUnavailable
from chalicelib.http import decode_cursor, encode_cursor
from chalicelib.oauth import records

ACTIVE = "active"
DELETING = "deleting"
_RETRYABLE_REASONS = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


def grant_slot(provider: str, connection_id: str) -> str:
    """The range key of a grant: the fetch reads one provider's grants of an instance with ``begins_with``."""
    return f"{provider}#{connection_id}"


# --- transactions -----------------------------------------------------------------------------------


def _transact(build: Callable[[TransactWrite], None]) -> bool:
    """Commit the writes ``build`` adds; False when a condition failed or another transaction raced."""
    return _commit(build) is None


def _commit(build: Callable[[TransactWrite], None]) -> str | None:
    """Commit the writes ``build`` adds; None, or why it was cancelled: ``"condition"`` or ``"conflict"``."""
    transaction = TransactWrite(connection=Connection._get_connection().connection)
    build(transaction)
    try:
        with translated():
            transaction._commit()
    except TransactWriteError as e:
        if is_conditional_failure(e):
            return "condition"
        reasons = getattr(e, "cancellation_reasons", None) or []
        if any(r is not None and r.code in _RETRYABLE_REASONS for r in reasons):
            return "conflict"
        raise ServiceUnavailable("The database is unavailable; try again shortly.") from e
    return None


# --- customers --------------------------------------------------------------------------------------


def get_customer(customer_id: str) -> Customer | None:
    """One customer by id (consistent read: a rotated key stops working at once), or None."""
    with translated():
        try:
            return Customer.get(customer_id, consistent_read=True)
        except DoesNotExist:
            return None


def customer_id_for_key(key_hash: str) -> str | None:
    """The id of the customer whose API key has this hash, or None."""
    with translated():
        for item in Customer.by_key_hash.query(key_hash, limit=1):
            return str(item.id)
    return None


def create_customer(customer: Customer) -> None:
    """Write a new customer."""
    with translated("A customer with this id already exists."):
        customer.save(condition=Customer.id.does_not_exist())


def list_customers(limit: int, cursor: str | None) -> tuple[list[Customer], str | None]:
    """A page of every customer, newest first."""
    return _page(Customer.by_creation, "customer", limit, cursor, hash_name="kind", table_keys=("id",))


def set_customer_key(customer_id: str, key_hash: str, now: int) -> Customer | None:
    """Replace an active customer's key hash; the customer, or None when there is no active one."""
    item = Customer(customer_id)
    actions = [Customer.key_hash.set(key_hash), Customer.updated_at.set(now)]
    return item if updated(item, actions, Customer.id.exists() & (Customer.status == ACTIVE)) else None


def mark_customer_deleting(customer_id: str, now: int) -> bool:
    """Close a customer to every caller before its children are removed; False when it does not exist."""
    actions = [Customer.status.set(DELETING), Customer.updated_at.set(now)]
    return updated(Customer(customer_id), actions, Customer.id.exists())


def delete_customer(customer_id: str) -> None:
    """Remove a customer item."""
    with translated():
        Customer(customer_id).delete()


# --- instances --------------------------------------------------------------------------------------


def get_instance(instance_id: str) -> Instance | None:
    """One instance by id (consistent read: a rotated proxy key stops working at once), or None."""
    with translated():
        try:
            return Instance.get(instance_id, consistent_read=True)
        except DoesNotExist:
            return None


def create_instance(instance: Instance) -> bool:
    """Write a new instance of an active customer; False when the customer is gone or being deleted."""

    def build(t: TransactWrite) -> None:
        t.condition_check(Customer, instance.customer_id, condition=Customer.id.exists() & (Customer.status == ACTIVE))
        t.save(instance, condition=Instance.id.does_not_exist())

    return _transact(build)


def list_instances(customer_id: str, limit: int, cursor: str | None) -> tuple[list[Instance], str | None]:
    """A page of a customer's instances, newest first."""
    return _page(Instance.by_customer, customer_id, limit, cursor, hash_name="customer_id", table_keys=("id",))


def all_instances(customer_id: str) -> Iterator[Instance]:
    """Every instance of a customer (for deleting the customer)."""
    with translated():
        yield from Instance.by_customer.query(customer_id)


def set_instance_key(instance_id: str, customer_id: str, key_hash: str, now: int) -> Instance | None:
    """Replace an active instance's proxy key hash; the instance, or None when there is no such one."""
    item = Instance(instance_id)
    actions = [Instance.key_hash.set(key_hash), Instance.updated_at.set(now)]
    active = Instance.id.exists() & (Instance.customer_id == customer_id) & (Instance.status == ACTIVE)
    return item if updated(item, actions, active) else None


def mark_instance_deleting(instance_id: str, now: int) -> bool:
    """Refuse the instance's key and new grants to it before its grants are removed; False when gone."""
    actions = [Instance.status.set(DELETING), Instance.updated_at.set(now)]
    return updated(Instance(instance_id), actions, Instance.id.exists())


def delete_instance(instance_id: str) -> None:
    """Remove an instance item."""
    with translated():
        Instance(instance_id).delete()


# --- connections ------------------------------------------------------------------------------------


def get_connection(customer_id: str, connection_id: str) -> Connection | None:
    """One connection of a customer (consistent read), or None."""
    with translated():
        try:
            return Connection.get(customer_id, connection_id, consistent_read=True)
        except DoesNotExist:
            return None


def list_connections(customer_id: str) -> list[Connection]:
    """Every connection of a customer, with its grants (consistent: a connection just made is listed)."""
    with translated():
        return list(Connection.query(customer_id, consistent_read=True))


def create_connection(connection: Connection) -> bool:
    """Write a new connection of an active customer; False when the customer is gone or being deleted."""

    def build(t: TransactWrite) -> None:
        t.condition_check(
            Customer, connection.customer_id, condition=Customer.id.exists() & (Customer.status == ACTIVE)
        )
        t.save(connection, condition=Connection.id.does_not_exist())

    return _transact(build)


def delete_connection(connection: Connection) -> bool:
    """Remove a connection and every grant on it, as read at ``connection.revision``; False if it changed."""

    def build(t: TransactWrite) -> None:
        t.delete(connection, condition=Connection.revision == connection.revision)
        for instance_id in _grant_instances(connection):
            t.delete(Grant(instance_id, grant_slot(connection.provider, connection.id)))

    return _transact(build)


def _grant_instances(connection: Connection) -> list[str]:
    return sorted((connection.grants.as_dict() if connection.grants is not None else {}).keys())


# --- grants -----------------------------------------------------------------------------------------


def instance_grants(instance_id: str, provider: str | None = None) -> list[Grant]:
    """An instance's grants (of one provider, when given), read consistently: a revoked grant is gone at once."""
    condition = Grant.slot.startswith(f"{provider}#") if provider is not None else None
    with translated():
        return list(Grant.query(instance_id, range_key_condition=condition, consistent_read=True))


def add_grant(connection: Connection, grant: Grant, entry: dict[str, Any]) -> bool:
    """Store a grant and record it on its connection, both as read; False when either changed meanwhile.

    The grant's instance must still be active and the customer's, and the instance must hold no grant
    on this connection yet.
    """

    def build(t: TransactWrite) -> None:
        t.condition_check(
            Instance,
            grant.instance_id,
            condition=(Instance.status == ACTIVE) & (Instance.customer_id == connection.customer_id),
        )
        t.save(grant, condition=Grant.slot.does_not_exist())
        t.update(
            Connection(connection.customer_id, connection.id),
            actions=[Connection.grants[grant.instance_id].set(entry), Connection.revision.add(1)],
            condition=Connection.revision == connection.revision,
        )

    return _transact(build)


def remove_grant(connection: Connection, instance_id: str) -> bool:
    """Delete the grant of ``instance_id`` on a connection as read; False when the connection changed."""

    def build(t: TransactWrite) -> None:
        t.delete(Grant(instance_id, grant_slot(connection.provider, connection.id)))
        t.update(
            Connection(connection.customer_id, connection.id),
            actions=[Connection.grants[instance_id].remove(), Connection.revision.add(1)],
            condition=Connection.revision == connection.revision,
        )

    return _transact(build)


def delete_grant_items(grants: list[Grant]) -> None:
    """Remove grant items whose connection is already gone."""
    with translated(), Grant.batch_write() as batch:
        for grant in grants:
            batch.delete(grant)


# --- refresh (the Store of chalicelib.oauth.refresh) ------------------------------------------------


def acquire_lease(customer_id: str, connection_id: str, lease_id: str, now: int, lease_ms: int) -> Connection | None:
    """Take a connection's refresh lease; the connection as stored, or None while another caller holds it."""
    item = Connection(customer_id, connection_id)
    actions, free = records.lease(Connection, lease_id, now, lease_ms)
    return item if updated(item, actions, free) else None


def save_refreshed(
    connection: Connection, lease_id: str, read_revision: int, fields: dict[str, Any], copy: dict[str, Any]
) -> bool:
    """Store refreshed credentials on a connection and their copies on every grant, under the lease.

    ``fields`` are the connection's new attribute values and ``copy`` the grants' (None removes one).
    The write requires the lease still held and the revision still ``read_revision`` (no grant added
    or removed meanwhile, so every copy is rewritten). False when either failed.
    """

    def build(t: TransactWrite) -> None:
        t.update(
            Connection(connection.customer_id, connection.id),
            actions=[*_actions(Connection, fields), Connection.revision.add(1)],
            condition=(Connection.lease_id == lease_id) & (Connection.revision == read_revision),
        )
        for instance_id in _grant_instances(connection):
            t.update(
                Grant(instance_id, grant_slot(connection.provider, connection.id)),
                actions=_actions(Grant, copy),
                condition=Grant.slot.exists(),
            )

    return _transact(build)


def _actions(model: Any, fields: dict[str, Any]) -> list[Any]:
    return [
        getattr(model, name).remove() if value is None else getattr(model, name).set(value)
        for name, value in fields.items()
    ]


def due_connections(until_ms: int, shards: Iterable[str]) -> Iterator[Connection]:
    """Connections whose refresh is due by ``until_ms``, from the sparse index, shard (hash key) by shard."""
    for shard in shards:
        with translated():
            yield from Connection.refresh_due.query(shard, Connection.refresh_due_at <= until_ms, page_size=500)


def update_under_lease(customer_id: str, connection_id: str, lease_id: str, actions: list[Any]) -> bool:
    """Apply ``actions`` to a connection if the lease is still ours; False when it expired and was taken."""
    return updated(Connection(customer_id, connection_id), actions, Connection.lease_id == lease_id)


# --- audit ------------------------------------------------------------------------------------------


def audit_key(at: int, entry_id: str) -> str:
    """The range key of an audit entry: sorts by time."""
    return f"{at:013d}#{entry_id}"


def put_audit(entry: AuditEntry) -> None:
    """Record one fetch."""
    with translated():
        entry.save()


def record_fetch(entry: AuditEntry, touch: Grant | None = None) -> bool:
    """Record one fetch; with ``touch``, in the same write set ``last_used_at`` on its connection and grant.

    The three go in one transaction, conditional on the connection and the grant still existing: False
    (nothing written) when either was deleted meanwhile. When the transaction raced another on the same
    items (a refresh, a concurrent touch), the fetch is recorded alone and a later fetch sets ``last_used_at``.
    """
    if touch is None:
        put_audit(entry)
        return True

    def build(t: TransactWrite) -> None:
        t.save(entry)
        t.update(
            Connection(touch.customer_id, touch.connection_id),
            actions=[Connection.last_used_at.set(entry.at)],
            condition=Connection.id.exists(),
        )
        t.update(
            Grant(touch.instance_id, touch.slot),
            actions=[Grant.last_used_at.set(entry.at)],
            condition=Grant.slot.exists(),
        )

    outcome = _commit(build)
    if outcome == "conflict":
        put_audit(entry)
    return outcome != "condition"


def connection_audit(connection_id: str, limit: int, cursor: str | None) -> tuple[list[AuditEntry], str | None]:
    """A page of a connection's audit trail, newest first."""
    start = None
    if cursor:
        position = decode_cursor(cursor, {"c": str, "e": str})
        start = {
            "customer_id": {"S": position["c"]},
            "entry": {"S": position["e"]},
            "connection_id": {"S": connection_id},
        }
    with translated():
        items = list(
            AuditEntry.by_connection.query(
                connection_id, scan_index_forward=False, limit=limit + 1, page_size=limit + 1, last_evaluated_key=start
            )
        )
    if len(items) <= limit:
        return items, None
    last = items[limit - 1]
    return items[:limit], encode_cursor({"c": last.customer_id, "e": last.entry})


def delete_audit(customer_id: str) -> None:
    """Remove every audit entry of a customer (a Query of its partition, deleted in batches)."""
    with translated():
        entries = AuditEntry.query(customer_id, attributes_to_get=["customer_id", "entry"])
        with AuditEntry.batch_write() as batch:
            for entry in entries:
                batch.delete(entry)


# --- paging -----------------------------------------------------------------------------------------


def _page(
    index: Any, hash_value: str, limit: int, cursor: str | None, *, hash_name: str, table_keys: tuple[str, ...]
) -> tuple[list[Any], str | None]:
    start = None
    if cursor:
        position = decode_cursor(cursor, {"c": int, "i": str})
        start = {hash_name: {"S": hash_value}, "created_at": {"N": str(position["c"])}}
        start.update({name: {"S": position["i"]} for name in table_keys})
    with translated():
        items = list(
            index.query(
                hash_value, scan_index_forward=False, limit=limit + 1, page_size=limit + 1, last_evaluated_key=start
            )
        )
    if len(items) <= limit:
        return items, None
    last = items[limit - 1]
    return items[:limit], encode_cursor({"c": int(last.created_at), "i": last.id})
