"""Keys, queries, conditions and transactions of the repo tags service's tables.

Uniqueness (a GitHub account, a tag name per user, a GitHub repo per user, a tag on a repo) is settled
by DynamoDB: each unique value is a ``Claim`` item written with ``attribute_not_exists`` in the same
transaction as its owner, and deleted with it. Lists read the indexes, every page; nothing here scans.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pynamodb.exceptions import DoesNotExist
from pynamodb.indexes import GlobalSecondaryIndex

from chalicelib import errors
from chalicelib.dynamo import Cancelled, Transaction, translated, updated
from chalicelib.repotags.models import USER_LIST, Assoc, Claim, Repo, Tag, Token, User

_ATTEMPTS = 4


# --- what the database decided ------------------------------------------------------------------


class UnknownUser(errors.NotFound):
    code = "unknown_user"
    default_message = "No user has this id."


class UnknownTag(errors.NotFound):
    code = "unknown_tag"
    default_message = "No tag has this id."


class UnknownRepo(errors.NotFound):
    code = "unknown_repo"
    default_message = "No repo has this id."


class UnknownAssociation(errors.NotFound):
    code = "unknown_association"
    default_message = "No association has this id."


class TagNameTaken(errors.BadRequest):
    code = "duplicate_tag"
    default_message = "You already have a tag with this name."


class RepoTaken(errors.BadRequest):
    code = "duplicate_repo"
    default_message = "You already have a repo with this github_repo_id."


class AssociationTaken(errors.BadRequest):
    code = "duplicate_association"
    default_message = "This tag is already on this repo."


class TokenAlreadyStored(errors.Conflict):
    """Another request stored the same GitHub token first."""

    code = "token_already_stored"
    default_message = "This token was registered by a concurrent request; try again."


class GithubUserTaken(errors.Conflict):
    """Another request created the user of this GitHub account first."""

    code = "github_user_taken"
    default_message = "This GitHub account was registered by a concurrent request; try again."


# --- claim keys ---------------------------------------------------------------------------------


def fold_name(name: str) -> str:
    """The form of a tag name that uniqueness compares: case folded, then NFC ("Rust" and "rust" clash)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", name).casefold())


def github_user_claim(github_user_id: str) -> str:
    """The claim key of a GitHub account (owner: its user)."""
    return f"github-user|{github_user_id}"


def tag_name_claim(user_id: str, name: str) -> str:
    """The claim key of a user's tag name (owner: the tag)."""
    return f"tag-name|{user_id}|{fold_name(name)}"


def repo_claim(user_id: str, github_repo_id: str) -> str:
    """The claim key of a user's GitHub repo (owner: the repo)."""
    return f"repo|{user_id}|{github_repo_id}"


def assoc_claim(tag_id: str, repo_id: str) -> str:
    """The claim key of a tag on a repo (owner: the association)."""
    return f"assoc|{tag_id}|{repo_id}"


# --- transactions -------------------------------------------------------------------------------


def _get(model: type[Any], key: str, *, consistent: bool = False) -> Any:
    with translated():
        try:
            return model.get(key, consistent_read=consistent)
        except DoesNotExist:
            return None


def _all(results: Iterable[Any]) -> list[Any]:
    """Every item of a query (PynamoDB follows LastEvaluatedKey page after page)."""
    with translated():
        return list(results)


def _batch_get(model: type[Any], keys: list[str]) -> list[Any]:
    if not keys:
        return []
    with translated():
        return list(model.batch_get(list(dict.fromkeys(keys))))


# --- users and tokens -----------------------------------------------------------------------------


def get_user(user_id: str, *, consistent: bool = False) -> User | None:
    """One user by id, or None."""
    user: User | None = _get(User, user_id, consistent=consistent)
    return user


def list_users() -> list[User]:
    """Every user, oldest first."""
    return _all(User.all_users.query(USER_LIST))


def get_token(token_hash: str, *, consistent: bool = False) -> Token | None:
    """The stored token with this keyed hash, or None."""
    token: Token | None = _get(Token, token_hash, consistent=consistent)
    return token


def github_owner(github_user_id: str) -> str | None:
    """The id of the user of a GitHub account, or None when it has none yet."""
    claim: Claim | None = _get(Claim, github_user_claim(github_user_id), consistent=True)
    return claim.owner_id if claim is not None else None


def create_user(user: User, token: Token) -> None:
    """Store a new user, its GitHub account claim and its token, together."""
    claim = Claim(github_user_claim(user.github_user_id), owner_id=user.id, created_at=user.created_at)
    writes = Transaction(Tag)
    writes.put("github", claim, Claim.key.does_not_exist())
    writes.put("user", user, User.id.does_not_exist())
    writes.put("token", token, Token.token_hash.does_not_exist())
    _commit(writes, lambda failed: TokenAlreadyStored() if "token" in failed else GithubUserTaken())


def replace_token(user: User, token: Token, now: int) -> None:
    """Make ``token`` the user's only token, as long as the user still has the token it was read with."""
    writes = Transaction(Tag)
    writes.delete("old", Token(user.token_hash))
    writes.put("token", token, Token.token_hash.does_not_exist())
    writes.update(
        "user",
        user,
        [User.token_id.set(token.id), User.token_hash.set(token.token_hash), User.updated_at.set(now)],
        (User.token_hash == user.token_hash),
    )
    _commit(writes, lambda failed: TokenAlreadyStored() if "token" in failed else None)
    user.token_id, user.token_hash, user.updated_at = token.id, token.token_hash, now


def mark_checked(token: Token, now: int) -> bool:
    """Record that GitHub confirmed the token now; False when the token was replaced meanwhile."""
    return updated(token, [Token.checked_at.set(now)], Token.user_id == token.user_id)


# --- tags and repos ------------------------------------------------------------------------------

_Item = TypeVar("_Item", Tag, Repo)


@dataclass(frozen=True)
class Owned(Generic[_Item]):
    """A user's tags, or a user's repos: items each carrying one value the user may hold once.

    The value (a tag's name, a repo's GitHub repo id) is claimed by a ``Claim`` written and deleted in
    the same transaction as its item; ``taken`` is the error when the user already holds it.
    """

    model: type[_Item]
    field: str
    claim_key: Callable[[str, str], str]
    taken: Callable[[str], errors.KeyportError]
    assoc_field: str
    assocs_by: GlobalSecondaryIndex[Assoc]

    @property
    def label(self) -> str:
        return self.model.__name__.lower()

    def value(self, item: _Item) -> str:
        """The item's unique value."""
        return str(getattr(item, self.field))

    def get(self, item_id: str) -> _Item | None:
        """One item by id, or None."""
        item: _Item | None = _get(self.model, item_id)
        return item

    def of_user(self, user_id: str) -> list[_Item]:
        """Every item of a user, oldest first."""
        return _all(self.model.by_user.query(user_id))

    def by_ids(self, item_ids: list[str]) -> list[_Item]:
        """The items that exist among these ids (in no particular order)."""
        return _batch_get(self.model, item_ids)

    def assocs(self, item_id: str) -> list[Assoc]:
        """Every association of an item, oldest first."""
        return _all(self.assocs_by.query(item_id))

    def create(self, item: _Item) -> None:
        """Store a new item with its claim; ``taken`` when the user already holds its value."""
        value = self.value(item)
        writes = Transaction(Tag)
        claim = Claim(self.claim_key(item.user_id, value), owner_id=item.id, created_at=item.created_at)
        writes.put("claim", claim, Claim.key.does_not_exist())
        writes.put(self.label, item, self.model.id.does_not_exist())
        _commit_claiming(writes, self.taken(value))

    def change(self, item: _Item, value: str, now: int) -> None:
        """Give an item (as it was read, and ``item`` with it) another value; ``taken``, or Stale when it changed."""
        old_claim, new_claim = self.claim_key(item.user_id, self.value(item)), self.claim_key(item.user_id, value)
        writes = Transaction(Tag)
        if new_claim != old_claim:  # a tag renamed only in case keeps its claim
            writes.delete("old-claim", Claim(old_claim), Claim.owner_id == item.id)
            writes.put("claim", Claim(new_claim, owner_id=item.id, created_at=now), Claim.key.does_not_exist())
        actions = [getattr(self.model, self.field).set(value), self.model.updated_at.set(now)]
        writes.update(self.label, item, actions, self._unchanged(item))
        _commit_claiming(writes, self.taken(value))
        setattr(item, self.field, value)
        item.updated_at = now

    def delete(self, item: _Item) -> None:
        """Delete an item as it was read, with its claim; Stale when it changed (or went) meanwhile."""
        writes = Transaction(Tag)
        writes.delete(self.label, item, self._unchanged(item))
        writes.delete("claim", Claim(self.claim_key(item.user_id, self.value(item))), Claim.owner_id == item.id)
        writes.commit()

    def _unchanged(self, item: _Item) -> Any:
        """The condition that the item still has the owner and value it was read with."""
        return (self.model.user_id == item.user_id) & (getattr(self.model, self.field) == self.value(item))


TAGS = Owned(
    Tag,
    "name",
    tag_name_claim,
    lambda name: TagNameTaken(f"You already have a tag named '{name}'."),
    "tag_id",
    Assoc.by_tag,
)
REPOS = Owned(
    Repo,
    "github_repo_id",
    repo_claim,
    lambda github_repo_id: RepoTaken(f"You already have a repo with github_repo_id '{github_repo_id}'."),
    "repo_id",
    Assoc.by_repo,
)


# --- associations ---------------------------------------------------------------------------------


def get_assoc(assoc_id: str) -> Assoc | None:
    """One association by id, or None."""
    assoc: Assoc | None = _get(Assoc, assoc_id)
    return assoc


def create_assoc(assoc: Assoc) -> None:
    """Store an association while its tag and repo exist and belong to its user."""
    writes = Transaction(Tag)
    writes.check("tag", Tag, assoc.tag_id, Tag.user_id == assoc.user_id)
    writes.check("repo", Repo, assoc.repo_id, Repo.user_id == assoc.user_id)
    claim = Claim(assoc_claim(assoc.tag_id, assoc.repo_id), owner_id=assoc.id, created_at=assoc.created_at)
    writes.put("claim", claim, Claim.key.does_not_exist())
    writes.put("assoc", assoc, Assoc.id.does_not_exist())

    def failure(failed: frozenset[str]) -> errors.KeyportError:
        if "tag" in failed:
            return UnknownTag(f"No tag has the id '{assoc.tag_id}'.")
        if "repo" in failed:
            return UnknownRepo(f"No repo has the id '{assoc.repo_id}'.")
        return AssociationTaken()

    _commit(writes, failure)


def delete_assoc(assoc: Assoc) -> None:
    """Delete one association and its claim; UnknownAssociation when it went meanwhile."""
    writes = Transaction(Tag)
    writes.delete("assoc", assoc, Assoc.user_id == assoc.user_id)
    # Unconditional: the claim is this association's while the association exists, as checked above.
    writes.delete("claim", Claim(assoc_claim(assoc.tag_id, assoc.repo_id)))
    _commit(writes, lambda failed: UnknownAssociation(f"No association has the id '{assoc.id}'."))


def delete_assocs(assocs: list[Assoc]) -> None:
    """Delete associations and their claims (a deleted tag's or repo's), in batches."""
    if not assocs:
        return
    with translated():
        with Assoc.batch_write() as batch:
            for assoc in assocs:
                batch.delete(assoc)
        with Claim.batch_write() as claims:
            for assoc in assocs:
                claims.delete(Claim(assoc_claim(assoc.tag_id, assoc.repo_id)))


def _commit(writes: Transaction, failure: Callable[[frozenset[str]], errors.KeyportError | None]) -> None:
    """Commit; a cancelled transaction raises what ``failure`` makes of its failed labels (None: Stale as it is)."""
    try:
        writes.commit()
    except Cancelled as e:
        error = failure(e.failed)
        if error is None:
            raise
        raise error from e


def _commit_claiming(writes: Transaction, taken: errors.KeyportError) -> None:
    """Commit a write that claims a unique value: ``taken`` when only the claim failed, else Stale."""
    _commit(writes, lambda failed: taken if failed == {"claim"} else None)
