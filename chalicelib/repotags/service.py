"""Rules of the repo tags service (giistr): GitHub token authentication, users, tags, repos, associations.

Every tag, repo and association belongs to one user. Another user's object answers exactly as a
missing one (404), on every route. Lists are complete and ordered by ``created_at``, oldest first.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from chalicelib import dynamo
from chalicelib.crypto import keyed_hash, seal_json
from chalicelib.errors import BadRequest, NotFound, ServiceUnavailable
from chalicelib.repotags import github, repository
from chalicelib.repotags.models import Assoc, Repo, Tag, Token, User
from chalicelib.repotags.repository import UnknownAssociation, UnknownRepo, UnknownTag, UnknownUser
from chalicelib.settings import get_settings

TOKEN_PURPOSE = "repotags/github-token"
TOKEN_HASH_PURPOSE = "github-token"
TOKEN_MAX = 255
_ATTEMPTS = 4
_SHOWN_ID_MAX = 64


class InvalidGithubToken(BadRequest):
    code = "invalid_github_token"
    default_message = "X-Github-Token must be a GitHub token: 1 to 255 printable ASCII characters, no spaces."


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: a user, or the operator (secret key), who sees every user."""

    user_id: str | None

    @property
    def is_operator(self) -> bool:
        return self.user_id is None


OPERATOR = Caller(None)
_Item = TypeVar("_Item", Tag, Repo)


def _now() -> int:
    return int(time.time())


def _is_uuid(value: str) -> bool:
    try:
        parsed = uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return parsed.version == 4 and str(parsed) == value


def _shown(value: str) -> str:
    return value[:_SHOWN_ID_MAX]


# --- authentication -------------------------------------------------------------------------------


def authenticate(token: str) -> str:
    """The id of the user a GitHub token belongs to: known and fresh, re-checked with GitHub, or registered now.

    An unknown token is shown to GitHub; a GitHub account we know gets the token as its new one, an
    unknown one becomes a new user. A known token is shown to GitHub again once GITHUB_RECHECK_SECONDS
    have passed since GitHub last confirmed it. Nothing is written unless GitHub accepted the token.
    """
    if not 0 < len(token) <= TOKEN_MAX or not all("!" <= c <= "~" for c in token):
        raise InvalidGithubToken()
    token_hash = keyed_hash(token, TOKEN_HASH_PURPOSE)
    stored = repository.get_token(token_hash)
    now = _now()
    if stored is not None and now - int(stored.checked_at) < get_settings().github_recheck_seconds:
        return stored.user_id
    account = github.current_user(token)
    if stored is not None:
        if account.id != stored.github_user_id:
            raise github.TokenRejected("GitHub now reports this token for another account; send it again later.")
        if repository.mark_checked(stored, now):
            return stored.user_id
    # Unknown, or replaced by a newer token while this request ran: register it.
    return _register(token, token_hash, account.id, now)


def _register(token: str, token_hash: str, github_user_id: str, now: int) -> str:
    """Store a token GitHub accepted, for its account's user (created if new); the user's id."""
    token_id = str(uuid.uuid4())
    sealed = seal_json(token, purpose=TOKEN_PURPOSE, record=token_id)
    for _ in range(_ATTEMPTS):
        owner = repository.github_owner(github_user_id)
        user = repository.get_user(owner, consistent=True) if owner is not None else None
        if owner is not None and user is None:  # pragma: no cover - written together, so never seen apart
            raise ServiceUnavailable("This GitHub account's user could not be read; try again shortly.")
        if user is not None and user.token_hash == token_hash:
            return user.id  # a concurrent request registered this very token
        user_id = user.id if user is not None else str(uuid.uuid4())
        item = Token(
            token_hash,
            id=token_id,
            user_id=user_id,
            github_user_id=github_user_id,
            token=sealed,
            created_at=now,
            checked_at=now,
        )
        try:
            if user is not None:
                repository.replace_token(user, item, now)
            else:
                repository.create_user(_new_user(user_id, github_user_id, item, now), item)
            return user_id
        except repository.TokenAlreadyStored:
            stored = repository.get_token(token_hash, consistent=True)
            if stored is not None:
                return stored.user_id
        except dynamo.Stale:
            # Another new token of this account was stored first. GitHub vouched for this one too, so
            # the request is the user's; that token stays, and this one is stored when it comes back.
            assert user is not None
            return user.id
        except repository.GithubUserTaken:
            continue  # the account's user was created meanwhile: replace its token instead
    raise ServiceUnavailable("Too many sign-ins for this GitHub account at once; try again.")


def _new_user(user_id: str, github_user_id: str, token: Token, now: int) -> User:
    return User(
        user_id,
        github_user_id=github_user_id,
        token_id=token.id,
        token_hash=token.token_hash,
        created_at=now,
        updated_at=now,
    )


# --- users ----------------------------------------------------------------------------------------


def user_view(user: User) -> dict[str, Any]:
    """A user as the API shows it: ``token_id`` names the stored token record, never the token."""
    return {
        "id": user.id,
        "created_at": int(user.created_at),
        "updated_at": int(user.updated_at),
        "token_id": user.token_id,
        "github_user_id": user.github_user_id,
    }


def get_user(caller: Caller, user_id: str) -> dict[str, Any]:
    """GET /api/v1/user/{id}: yourself, or anyone for the operator."""
    visible = caller.is_operator or caller.user_id == user_id
    user = repository.get_user(user_id) if visible and _is_uuid(user_id) else None
    if user is None:
        raise UnknownUser(f"No user has the id '{_shown(user_id)}'.")
    return user_view(user)


def list_users(caller: Caller) -> list[dict[str, Any]]:
    """GET /api/v1/users: yourself, or every user (oldest first) for the operator."""
    if caller.is_operator:
        return [user_view(u) for u in _ordered(repository.list_users())]
    assert caller.user_id is not None
    user = repository.get_user(caller.user_id)
    return [user_view(user)] if user is not None else []


# --- tags and repos ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind(Generic[_Item]):
    """The rules tags and repos share: owned by one user, one value (name, GitHub repo id) unique per user.

    Values arrive checked: the request models (``contracts.py``) trim them and refuse invalid ones.
    """

    store: repository.Owned[_Item]
    unknown: type[NotFound]

    def view(self, item: _Item) -> dict[str, Any]:
        """An item as the API shows it."""
        return {
            "id": item.id,
            "created_at": int(item.created_at),
            "updated_at": int(item.updated_at),
            "user_id": item.user_id,
            self.store.field: self.store.value(item),
        }

    def owned(self, user_id: str, item_id: str) -> _Item:
        """The user's item with this id; another user's answers as a missing one."""
        item = self.store.get(item_id) if _is_uuid(item_id) else None
        if item is None or item.user_id != user_id:
            raise self.unknown(f"No {self.store.label} has the id '{_shown(item_id)}'.")
        return item

    def get(self, user_id: str, item_id: str) -> dict[str, Any]:
        """GET /api/v1/tag/{id}, GET /api/v1/repo/{id}."""
        return self.view(self.owned(user_id, item_id))

    def of_user(self, user_id: str) -> list[dict[str, Any]]:
        """GET /api/v1/tags, GET /api/v1/repos: every one of the user's."""
        return [self.view(item) for item in _ordered(self.store.of_user(user_id))]

    def create(self, user_id: str, value: str) -> dict[str, Any]:
        """POST /api/v1/tag, POST /api/v1/repo: one per value and user (tag names regardless of case)."""
        now = _now()
        fields: dict[str, Any] = {self.store.field: value}
        item = self.store.model(str(uuid.uuid4()), user_id=user_id, created_at=now, updated_at=now, **fields)
        self.store.create(item)
        return self.view(item)

    def update(self, user_id: str, item_id: str, value: str | None) -> dict[str, Any]:
        """PUT /api/v1/tag, PUT /api/v1/repo: change the value; without one the item is returned unchanged."""
        for _ in range(_ATTEMPTS):
            item = self.owned(user_id, item_id)
            if value is None or value == self.store.value(item):
                return self.view(item)
            try:
                self.store.change(item, value, _now())
            except dynamo.Stale:
                continue  # changed or deleted meanwhile: read it again
            return self.view(item)
        raise dynamo.Stale()

    def delete(self, user_id: str, item_id: str) -> dict[str, Any]:
        """DELETE /api/v1/tag/{id}, DELETE /api/v1/repo/{id}: the item and its associations; the deleted item."""
        for _ in range(_ATTEMPTS):
            item = self.owned(user_id, item_id)
            try:
                self.store.delete(item)
            except dynamo.Stale:
                continue
            # No association can name the item any more (creating one checks it): remove those there are.
            repository.delete_assocs(self.store.assocs(item.id))
            return self.view(item)
        raise dynamo.Stale()

    def across(self, user_id: str, item_id: str, other: _Kind[Any]) -> list[dict[str, Any]]:
        """The user's items of the ``other`` kind associated with one of the user's items of this kind."""
        item = self.owned(user_id, item_id)
        found = other.store.by_ids([getattr(a, other.store.assoc_field) for a in self.store.assocs(item.id)])
        return [other.view(x) for x in _ordered(x for x in found if x.user_id == user_id)]


TAGS = _Kind(repository.TAGS, UnknownTag)
REPOS = _Kind(repository.REPOS, UnknownRepo)

# The routes' entry points, one rule for both kinds.
tag_view, get_tag, list_tags, create_tag = TAGS.view, TAGS.get, TAGS.of_user, TAGS.create
update_tag, delete_tag = TAGS.update, TAGS.delete
repo_view, get_repo, list_repos, create_repo = REPOS.view, REPOS.get, REPOS.of_user, REPOS.create
update_repo, delete_repo = REPOS.update, REPOS.delete


# --- associations ---------------------------------------------------------------------------------


def assoc_view(assoc: Assoc, tag: Tag, repo: Repo) -> dict[str, Any]:
    """An association as the API shows it, with its repo and tag."""
    return {
        "assoc": {"id": assoc.id, "repo_id": assoc.repo_id, "tag_id": assoc.tag_id},
        "repo": repo_view(repo),
        "tag": tag_view(tag),
    }


def associate(user_id: str, tag_id: str, repo_id: str) -> dict[str, Any]:
    """POST /api/v1/tag/{tag_id}/repo/{repo_id}: put a tag on a repo, once."""
    tag, repo = TAGS.owned(user_id, tag_id), REPOS.owned(user_id, repo_id)
    assoc = Assoc(str(uuid.uuid4()), user_id=user_id, tag_id=tag.id, repo_id=repo.id, created_at=_now())
    repository.create_assoc(assoc)
    return assoc_view(assoc, tag, repo)


def dissociate(user_id: str, assoc_id: str) -> dict[str, Any]:
    """DELETE /api/v1/repo-tag-assoc/{id}: take a tag off a repo; the association, its repo and tag."""
    missing = UnknownAssociation(f"No association has the id '{_shown(assoc_id)}'.")
    assoc = repository.get_assoc(assoc_id) if _is_uuid(assoc_id) else None
    if assoc is None or assoc.user_id != user_id:
        raise missing
    tag, repo = repository.TAGS.get(assoc.tag_id), repository.REPOS.get(assoc.repo_id)
    repository.delete_assoc(assoc)
    if tag is None or repo is None:
        raise missing  # left behind by a tag or repo deleted a moment ago: gone now too
    return assoc_view(assoc, tag, repo)


def tags_of_repo(user_id: str, repo_id: str) -> list[dict[str, Any]]:
    """GET /api/v1/tags/repo/{id}: every tag on one of the user's repos."""
    return REPOS.across(user_id, repo_id, TAGS)


def repos_of_tag(user_id: str, tag_id: str) -> list[dict[str, Any]]:
    """GET /api/v1/repos/tag/{id}: every repo carrying one of the user's tags."""
    return TAGS.across(user_id, tag_id, REPOS)


def _ordered(items: Any) -> list[Any]:
    """Oldest first; items created in the same second in id order, so a list reads the same twice."""
    return sorted(items, key=lambda item: (int(item.created_at), item.id))
