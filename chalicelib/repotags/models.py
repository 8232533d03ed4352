"""PynamoDB models of the repo tags service (giistr)."""

from __future__ import annotations

from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.aws import table_meta
from chalicelib.dynamo import Model

# Every user item carries this in ``listed``: the operator's list of users is one index partition.
USER_LIST = "user"


class UsersByCreation(GlobalSecondaryIndex["User"]):
    """Every user, oldest first (the operator's GET /api/v1/users)."""

    class Meta:
        index_name = "all_users"
        projection = AllProjection()

    listed = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class User(Model):
    """A giistr user: one GitHub account and its current token."""

    Meta = table_meta("repotags-users")

    id = UnicodeAttribute(hash_key=True)
    github_user_id = UnicodeAttribute()
    token_id = UnicodeAttribute()  # Token.id of the current token
    token_hash = UnicodeAttribute()  # Token.token_hash of the current token (its key)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    listed = UnicodeAttribute(default=USER_LIST)

    all_users = UsersByCreation()


class Token(Model):
    """A GitHub token a user authenticated with, found by its keyed hash and stored sealed."""

    Meta = table_meta("repotags-tokens")

    token_hash = UnicodeAttribute(hash_key=True)  # crypto.keyed_hash(token, "github-token")
    id = UnicodeAttribute()  # the user's token_id; the record the sealed token is bound to
    user_id = UnicodeAttribute()
    github_user_id = UnicodeAttribute()
    token = BinaryAttribute(legacy_encoding=False)  # crypto.seal_json(token), purpose "repotags/github-token"
    created_at = NumberAttribute()
    checked_at = NumberAttribute()  # when GitHub last confirmed the token


class Claim(Model):
    """A uniqueness claim, written in the same transaction as its owner and removed with it.

    Keys: ``github-user|<github user id>`` (owner: the user), ``tag-name|<user id>|<folded name>``
    (the tag), ``repo|<user id>|<github repo id>`` (the repo), ``assoc|<tag id>|<repo id>`` (the association).
    """

    Meta = table_meta("repotags-claims")

    key = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    created_at = NumberAttribute()


class TagsByUser(GlobalSecondaryIndex["Tag"]):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class Tag(Model):
    """A user's tag."""

    Meta = table_meta("repotags-tags")

    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    name = UnicodeAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()

    by_user = TagsByUser()


class ReposByUser(GlobalSecondaryIndex["Repo"]):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class Repo(Model):
    """A GitHub repository a user tags."""

    Meta = table_meta("repotags-repos")

    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    github_repo_id = UnicodeAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()

    by_user = ReposByUser()


class AssocsByTag(GlobalSecondaryIndex["Assoc"]):
    class Meta:
        index_name = "by_tag"
        projection = AllProjection()

    tag_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class AssocsByRepo(GlobalSecondaryIndex["Assoc"]):
    class Meta:
        index_name = "by_repo"
        projection = AllProjection()

    repo_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class Assoc(Model):
    """One tag on one repo, both of the same user."""

    Meta = table_meta("repotags-assocs")

    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    tag_id = UnicodeAttribute()
    repo_id = UnicodeAttribute()
    created_at = NumberAttribute()

    by_tag = AssocsByTag()
    by_repo = AssocsByRepo()
