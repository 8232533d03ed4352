"""PynamoDB models of the dashboard: sessions and sign-in failures (the activity log: ``chalicelib.activity``)."""

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
