"""PynamoDB model of the idempotency records (the table is derived from it like every other)."""

from __future__ import annotations

from pynamodb.attributes import BinaryAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.aws import table_meta
from chalicelib.dynamo import Model


class IdempotencyRecord(Model):
    """The first request made with one caller's ``Idempotency-Key`` on one create route, and its answer."""

    Meta = table_meta("idempotency", ttl_attribute="ttl")

    id = UnicodeAttribute(hash_key=True)  # keyed hash of caller, method, path and key: never the key itself
    status = UnicodeAttribute()  # "in_progress" | "completed"
    request_hash = UnicodeAttribute()  # keyed hash of the method, path and body the key was first used with
    in_progress_until = NumberAttribute(null=True)  # ms: after this, an unfinished first request is given up
    response = BinaryAttribute(legacy_encoding=False, null=True)  # sealed {"status", "headers", "body"}
    created_at = NumberAttribute()
    expires_at = NumberAttribute()  # ms: the record is ignored after this (TTL deletes it later)
    ttl = TTLAttribute(null=True)
