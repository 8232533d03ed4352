"""PynamoDB model of the activity log."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.aws import table_meta
from chalicelib.dynamo import Model


class ActivityEvent(Model):
    """One operator-visible event, in a partition per UTC day, newest last by sort key."""

    Meta = table_meta("activity", ttl_attribute="ttl")

    day = UnicodeAttribute(hash_key=True)  # "2024-06-02"
    sk = UnicodeAttribute(range_key=True)  # zero-padded milliseconds, "#", a random suffix
    at = NumberAttribute()
    kind = UnicodeAttribute()  # e.g. "authentication.created"
    actor = UnicodeAttribute()  # "dashboard", "api", "connect flow", "refresh"
    subject = UnicodeAttribute()  # what it happened to, by id (never a secret)
    detail = UnicodeAttribute(null=True)
    ttl = TTLAttribute()
