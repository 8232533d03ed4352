"""PynamoDB models of the integrations service (its configurations and custom integrations are the refresh
core's: ``chalicelib.oauth.models``)."""

from __future__ import annotations

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.aws import table_meta
from chalicelib.dynamo import Model


class AuthenticationsByIntegration(GlobalSecondaryIndex["Authentication"]):
    class Meta:
        index_name = "by_integration"
        projection = AllProjection()

    integration = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class AuthenticationsBySetup(GlobalSecondaryIndex["Authentication"]):
    class Meta:
        index_name = "by_setup"
        projection = AllProjection()

    setup_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class AuthenticationsDue(GlobalSecondaryIndex["Authentication"]):
    """Sparse index of authentications with a refresh due, sharded, by due time."""

    class Meta:
        index_name = "refresh_due"
        projection = AllProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    refresh_due_at = NumberAttribute(range_key=True)


class Authentication(Model):
    """A stored OAuth payload (Pizzly's authId), sealed at rest."""

    Meta = table_meta("authentications")

    id = UnicodeAttribute(hash_key=True)
    integration = UnicodeAttribute()
    setup_id = UnicodeAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    payload = BinaryAttribute(legacy_encoding=False)
    connect_params = JSONAttribute(null=True)
    expires_at = NumberAttribute(null=True)
    # Refresh bookkeeping: the sweep's index, the lease, and the last failure.
    due_shard = UnicodeAttribute(null=True)
    refresh_due_at = NumberAttribute(null=True)
    lease_id = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)
    refresh_error = JSONAttribute(null=True)
    refresh_attempts = NumberAttribute(default=0)
    next_attempt_at = NumberAttribute(null=True)
    needs_reconnect = BooleanAttribute(default=False)
    refreshed_at = NumberAttribute(null=True)  # when a refresh last stored new tokens (forced ones coalesce)

    by_integration = AuthenticationsByIntegration()
    by_setup = AuthenticationsBySetup()
    refresh_due = AuthenticationsDue()


class OAuthState(Model):
    """One connect flow between its start and its callback: single use, short lived."""

    Meta = table_meta("oauth-states", ttl_attribute="ttl")

    id = UnicodeAttribute(hash_key=True)  # SHA-256 of the state value sent to the provider
    integration = UnicodeAttribute()
    setup_id = UnicodeAttribute()
    auth_id = UnicodeAttribute()
    redirect_uri = UnicodeAttribute()
    connect_params = JSONAttribute(null=True)
    secret = BinaryAttribute(legacy_encoding=False, null=True)  # sealed PKCE verifier or request-token secret
    created_at = NumberAttribute()
    expires_at = NumberAttribute()
    used_at = NumberAttribute(null=True)
    ttl = TTLAttribute(null=True)
