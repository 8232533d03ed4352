"""PynamoDB models of the entity store."""

from __future__ import annotations

from pynamodb.attributes import (
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection

from chalicelib.aws import table_meta
from chalicelib.dynamo import Model
from chalicelib.lockout import FailureRecord

# --- groups and users ------------------------------------------------------------------------------


class GroupsListing(GlobalSecondaryIndex["PlatformGroup"]):
    """Every group, by name (one partition: operators list groups, not users of the API)."""

    class Meta:
        index_name = "listing"
        projection = AllProjection()

    listing = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)


class PlatformGroup(Model):
    """A group of users, named by operators; entities carry its id in ``group`` and ``branch``."""

    Meta = table_meta("platform-groups")

    name = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute()
    listing = UnicodeAttribute(default="group")
    created_at = NumberAttribute()

    all_groups = GroupsListing()


class UsersListing(GlobalSecondaryIndex["PlatformUser"]):
    class Meta:
        index_name = "listing"
        projection = AllProjection()

    listing = UnicodeAttribute(hash_key=True)
    login = UnicodeAttribute(range_key=True)


class UsersByGroup(GlobalSecondaryIndex["PlatformUser"]):
    class Meta:
        index_name = "by_group"
        projection = AllProjection()

    group_id = UnicodeAttribute(hash_key=True)
    login = UnicodeAttribute(range_key=True)


class PlatformUser(Model):
    """A user of the platform API, created by operators; the password is an scrypt hash."""

    Meta = table_meta("platform-users")

    login = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute()
    group_id = UnicodeAttribute()
    group_name = UnicodeAttribute()
    password_hash = UnicodeAttribute()
    # Raised when the password changes: sessions and tokens issued before then stop working.
    credentials_version = NumberAttribute(default=1)
    listing = UnicodeAttribute(default="user")
    created_at = NumberAttribute()
    updated_at = NumberAttribute()

    all_users = UsersListing()
    by_group = UsersByGroup()


# --- sessions, tokens and failed logins -----------------------------------------------------------


class Credential(Model):
    """A session (cookie ``sid``) or an access token, stored by the SHA-256 of its value only."""

    Meta = table_meta("platform-credentials", ttl_attribute="ttl")

    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()  # "session" or "access"
    user_id = UnicodeAttribute()
    login = UnicodeAttribute()
    credentials_version = NumberAttribute()
    created_at = NumberAttribute()
    expires_at = NumberAttribute()
    ttl = TTLAttribute()


class LoginFailures(FailureRecord):
    """Recent failed logins for one login name (by its SHA-256), and the lockout they caused."""

    Meta = table_meta("platform-login-failures", ttl_attribute="ttl")


# --- entities ----------------------------------------------------------------------------------------


class EntitiesByStore(GlobalSecondaryIndex["Entity"]):
    """A store's entities in creation order; lists filter it on ``readers``."""

    class Meta:
        index_name = "by_store_time"
        projection = AllProjection()  # the doc is nearly all of an item

    store = UnicodeAttribute(hash_key=True)
    position = UnicodeAttribute(range_key=True)


class Entity(Model):
    """One entity of one store.

    ``doc`` is the whole entity as the API shows it, JSON text with numbers kept exactly (its ``access`` and
    ``branch`` lists included). ``readers`` is every principal (user or group id) that may read it: the
    owner, the group, and the ids in ``access`` and ``branch``.
    ``position`` is the creation time (13 digits, ms) and the id, so a store's index sorts by creation.
    """

    Meta = table_meta("platform-entities")

    id = UnicodeAttribute(hash_key=True)
    store = UnicodeAttribute()
    position = UnicodeAttribute()
    owner = UnicodeAttribute()
    group = UnicodeAttribute()
    readers = UnicodeSetAttribute()
    doc = UnicodeAttribute()
    version = VersionAttribute()

    by_store_time = EntitiesByStore()


# --- websocket connections ----------------------------------------------------------------------------


class ConnectionsByUser(GlobalSecondaryIndex["Connection"]):
    class Meta:
        index_name = "by_user"
        projection = IncludeProjection(["endpoint"])

    user_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class ConnectionsByGroup(GlobalSecondaryIndex["Connection"]):
    class Meta:
        index_name = "by_group"
        projection = IncludeProjection(["endpoint"])

    group_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class ConnectionsByLastPing(GlobalSecondaryIndex["Connection"]):
    """Connections by the time of their last ping, sharded: the sweep reads only the silent ones."""

    class Meta:
        index_name = "by_last_ping"
        projection = IncludeProjection(["endpoint"])

    ping_shard = UnicodeAttribute(hash_key=True)
    last_ping_at = NumberAttribute(range_key=True)


class Connection(Model):
    """One open socket.io websocket (an API Gateway WebSocket connection)."""

    Meta = table_meta("platform-connections", ttl_attribute="ttl")

    id = UnicodeAttribute(hash_key=True)  # API Gateway's connectionId
    sid = UnicodeAttribute()  # the Engine.IO session id shown to the client
    user_id = UnicodeAttribute()
    group_id = UnicodeAttribute()
    endpoint = UnicodeAttribute()  # the management API endpoint that reaches this connection
    connected_at = NumberAttribute()
    ping_shard = UnicodeAttribute()
    last_ping_at = NumberAttribute()
    opened_at = NumberAttribute(null=True)  # when ws_open sent the open packet: a retried ws_open sends it once
    ttl = TTLAttribute()

    by_user = ConnectionsByUser()
    by_group = ConnectionsByGroup()
    by_last_ping = ConnectionsByLastPing()
