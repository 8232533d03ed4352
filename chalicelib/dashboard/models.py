"""PynamoDB models of the dashboard: sessions, sign-in failures, and the activity log."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.aws import table_meta
from chalicelib.dynamo import Model
from chalicelib.lockout import FailureRecord


class DashboardSession(Model):
    """A signed-in browser: the cookie holds a random id, the table only its keyed hash."""

    Meta = table_meta("dashboard-sessions", ttl_attribute="ttl")

    id = UnicodeAttribute(hash_key=True)  # key_hash of the cookie value
    csrf = UnicodeAttribute()  # the form token bound to this session
    created_at = NumberAttribute()
    expires_at = NumberAttribute()
    ttl = TTLAttribute()


class SignInFailures(FailureRecord):
    """Recent wrong secret keys from one client address (by keyed hash), and the lockout they caused."""

    Meta = table_meta("dashboard-sign-in-failures", ttl_attribute="ttl")


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
