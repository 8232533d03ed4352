"""PynamoDB models of the providers every kind of credential refreshes with.

An integration definition stored at run time (it replaces a built-in one of the same id) and a
configuration (the OAuth client credentials registered with a provider, Pizzly's "setup"). The
integrations API writes both; the catalog, the refresh core and the broker read them.
"""

from __future__ import annotations

from pynamodb.attributes import BinaryAttribute, JSONAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection

from chalicelib.aws import table_meta
from chalicelib.dynamo import Model


class CustomIntegrationsListed(GlobalSecondaryIndex["CustomIntegration"]):
    """Every custom integration under one key, by id: the catalog lists them without a Scan (they are few)."""

    class Meta:
        index_name = "listed"
        projection = AllProjection()

    listed = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class CustomIntegration(Model):
    """An integration definition an operator stored at run time."""

    Meta = table_meta("integrations")

    id = UnicodeAttribute(hash_key=True)
    definition = JSONAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    listed = UnicodeAttribute(default="custom")

    all_listed = CustomIntegrationsListed()


class ConfigurationsByIntegration(GlobalSecondaryIndex["Configuration"]):
    class Meta:
        index_name = "by_integration"
        projection = AllProjection()

    integration = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class ConfigurationsListed(GlobalSecondaryIndex["Configuration"]):
    """Every configuration's integration under one key: which integrations are in use, in one Query."""

    class Meta:
        index_name = "listed"
        projection = KeysOnlyProjection()

    listed = UnicodeAttribute(hash_key=True)
    integration = UnicodeAttribute(range_key=True)


class Configuration(Model):
    """OAuth client credentials and scopes for one integration (Pizzly's "setup")."""

    Meta = table_meta("configurations")

    id = UnicodeAttribute(hash_key=True)
    integration = UnicodeAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    scopes = ListAttribute(of=UnicodeAttribute, default=list)
    credentials = BinaryAttribute(legacy_encoding=False)
    listed = UnicodeAttribute(default="configuration")

    by_integration = ConfigurationsByIntegration()
    all_listed = ConfigurationsListed()
