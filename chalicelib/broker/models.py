"""PynamoDB models of the credential broker: customers, instances, connections, grants, audit entries.

Keys are chosen for the runtime credential fetch: an instance is read by its id (the path names it),
and its grants by one consistent Query on the grants table, whose items carry what the fetch needs
(provider, name, capabilities and a copy of the connection's sealed credentials). See docs/broker.md.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection

from chalicelib.aws import table_meta
from chalicelib.dynamo import Model


class CustomersByKey(GlobalSecondaryIndex["Customer"]):
    """Customers by the hash of their API key: tells another customer's key (403) from an unknown one (401)."""

    class Meta:
        index_name = "by_key_hash"
        projection = KeysOnlyProjection()

    key_hash = UnicodeAttribute(hash_key=True)


class CustomersByCreation(GlobalSecondaryIndex["Customer"]):
    """Every customer, newest first (the operators' list): one partition, ``kind`` = "customer"."""

    class Meta:
        index_name = "by_creation"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class Customer(Model):
    """A customer of the broker: owns connections and instances, calls the customer API with its key."""

    Meta = table_meta("broker-customers")

    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default="customer")
    name = UnicodeAttribute()
    key_hash = UnicodeAttribute()  # SHA-256 of the API key, shown once
    status = UnicodeAttribute(default="active")  # "deleting" while its children are removed
    created_at = NumberAttribute()
    updated_at = NumberAttribute()

    by_key_hash = CustomersByKey()
    by_creation = CustomersByCreation()


class InstancesByCustomer(GlobalSecondaryIndex["Instance"]):
    class Meta:
        index_name = "by_customer"
        projection = AllProjection()

    customer_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class Instance(Model):
    """A runtime of a customer (an agent, a worker) that fetches granted credentials with its proxy key."""

    Meta = table_meta("broker-instances")

    id = UnicodeAttribute(hash_key=True)
    customer_id = UnicodeAttribute()
    name = UnicodeAttribute()
    key_hash = UnicodeAttribute()  # SHA-256 of the proxy key, shown once
    status = UnicodeAttribute(default="active")  # "deleting" while its grants are removed
    created_at = NumberAttribute()
    updated_at = NumberAttribute()

    by_customer = InstancesByCustomer()


class ConnectionsDue(GlobalSecondaryIndex["Connection"]):
    """Sparse index of connections with a refresh due, sharded, by due time (as for authentications)."""

    class Meta:
        index_name = "refresh_due"
        projection = AllProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    refresh_due_at = NumberAttribute(range_key=True)


class Connection(Model):
    """A customer's credentials for one provider account, sealed at rest, and the grants made on it."""

    Meta = table_meta("broker-connections")

    customer_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    provider = UnicodeAttribute()
    name = UnicodeAttribute()
    auth_type = UnicodeAttribute()
    integration = UnicodeAttribute(null=True)  # catalog id used to refresh (refreshable OAuth 2 only)
    scopes = ListAttribute(of=UnicodeAttribute, default=list)
    metadata_json = JSONAttribute(null=True)
    credentials = BinaryAttribute(legacy_encoding=False)
    status = UnicodeAttribute(default="active")
    error_message = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True)
    last_used_at = NumberAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    # instance id -> {"id", "capabilities", "granted_at"}; the grants table holds the runtime's copy.
    grants = MapAttribute(default=dict)  # type: ignore[var-annotated]
    # Bumped by every write that changes the credentials or the grant set, which every such write
    # requires unchanged: so the credential copies on grant items never go stale.
    revision = NumberAttribute(default=0)
    # Refresh bookkeeping: the sweep's index, the lease, and the last failure.
    due_shard = UnicodeAttribute(null=True)
    refresh_due_at = NumberAttribute(null=True)
    lease_id = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)
    refresh_error = JSONAttribute(null=True)
    refresh_attempts = NumberAttribute(default=0)
    next_attempt_at = NumberAttribute(null=True)
    needs_reconnect = BooleanAttribute(default=False)

    refresh_due = ConnectionsDue()


class Grant(Model):
    """One instance's access to one connection, keyed for the runtime fetch.

    ``slot`` is ``provider#connection_id``: the fetch reads an instance's grants of one provider with
    one Query. The item carries a copy of the connection's sealed credentials (sealed for the
    connection's record, so it opens only as that connection's) and its expiry.
    """

    Meta = table_meta("broker-grants")

    instance_id = UnicodeAttribute(hash_key=True)
    slot = UnicodeAttribute(range_key=True)
    id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    connection_id = UnicodeAttribute()
    provider = UnicodeAttribute()
    name = UnicodeAttribute()
    auth_type = UnicodeAttribute()
    capabilities = ListAttribute(of=UnicodeAttribute, default=list)
    granted_at = NumberAttribute()
    credentials = BinaryAttribute(legacy_encoding=False)
    expires_at = NumberAttribute(null=True)
    refresh_due_at = NumberAttribute(null=True)
    # When a fetch through this grant last set the connection's last_used_at (at most once a minute).
    last_used_at = NumberAttribute(null=True)


class AuditByConnection(GlobalSecondaryIndex["AuditEntry"]):
    """A connection's audit trail, newest first (sparse: entries that matched no connection lack it)."""

    class Meta:
        index_name = "by_connection"
        projection = AllProjection()

    connection_id = UnicodeAttribute(hash_key=True)
    entry = UnicodeAttribute(range_key=True)


class AuditEntry(Model):
    """One runtime credential fetch: who asked for what, when, and how it ended."""

    Meta = table_meta("broker-audit", ttl_attribute="ttl")

    customer_id = UnicodeAttribute(hash_key=True)
    entry = UnicodeAttribute(range_key=True)  # zero-padded time in ms, '#', entry id: sorts by time
    id = UnicodeAttribute()
    instance_id = UnicodeAttribute()
    connection_id = UnicodeAttribute(null=True)
    provider = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    capability = UnicodeAttribute(null=True)
    outcome = UnicodeAttribute()
    status_code = NumberAttribute()
    at = NumberAttribute()
    ttl = TTLAttribute(null=True)

    by_connection = AuditByConnection()
