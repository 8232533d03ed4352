"""Rules of the repo tags service (giistr): GitHub token authentication, users, tags, repos, associations.

Every tag, repo and association belongs to one user. Another user's object answers exactly as a
missing one (404), on every route. Lists are complete and ordered by ``created_at``, oldest first.
"""

from __future__ import annotations

import time
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from chalicelib import dynamo
from chalicelib.crypto import keyed_hash, seal_json
from chalicelib.errors import BadRequest, ServiceUnavailable
from chalicelib.repotags import github, repository
from chalicelib.repotags.models import Assoc, Repo, Tag, Token, User
from chalicelib.repotags.repository import UnknownAssociation, UnknownRepo, UnknownTag, UnknownUser
from chalicelib.settings import get_settings

TOKEN_PURPOSE = "repotags/github-token"
TOKEN_HASH_PURPOSE = "github-token"
TOKEN_MAX = 255
NAME_MAX = 100
GITHUB_REPO_ID_MAX = 100
_ATTEMPTS = 4
_SHOWN_ID_MAX = 64
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


class InvalidGithubToken(BadRequest):
    code = "invalid_github_token"
    default_message = "X-Github-Token must be a GitHub token: 1 to 255 printable ASCII characters, no spaces."


class InvalidTagName(BadRequest):
    code = "invalid_tag_name"


class InvalidGithubRepoId(BadRequest):
    code = "invalid_github_repo_id"


class InvalidId(BadRequest):
    code = "invalid_id"


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: a user, or the operator (secret key), who sees every user."""

    user_id: str | None

    @property
    def is_operator(self) -> bool:
        return self.user_id is None


OPERATOR = Caller(None)


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


# --- tags -----------------------------------------------------------------------------------------


def tag_view(tag: Tag) -> dict[str, Any]:
    """A tag as the API shows it."""
    return {
        "id": tag.id,
        "created_at": int(tag.created_at),
        "updated_at": int(tag.updated_at),
        "user_id": tag.user_id,
        "name": tag.name,
    }


def _tag(user_id: str, tag_id: str) -> Tag:
    tag = repository.TAGS.get(tag_id) if _is_uuid(tag_id) else None
    if tag is None or tag.user_id != user_id:
        raise UnknownTag(f"No tag has the id '{_shown(tag_id)}'.")
    return tag


def _tag_name(body: dict[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str):
        raise InvalidTagName("'name' is required and must be a string.")
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise InvalidTagName("'name' must not be empty.")
    if len(name) > NAME_MAX:
        raise InvalidTagName(f"'name' must be at most {NAME_MAX} characters long.")
    if any(unicodedata.category(c) in _FORBIDDEN_CATEGORIES for c in name):
        raise InvalidTagName("'name' must not contain control characters or line breaks.")
    return name


def _body_id(body: dict[str, Any]) -> str:
    value = body.get("id")
    if not isinstance(value, str) or not value:
        raise InvalidId("'id' is required and must be a string.")
    return value


def get_tag(user_id: str, tag_id: str) -> dict[str, Any]:
    """GET /api/v1/tag/{id}."""
    return tag_view(_tag(user_id, tag_id))


def list_tags(user_id: str) -> list[dict[str, Any]]:
    """GET /api/v1/tags: every tag of the user."""
    return [tag_view(t) for t in _ordered(repository.TAGS.of_user(user_id))]


def create_tag(user_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/v1/tag: names are trimmed, and unique per user regardless of case."""
    now = _now()
    tag = Tag(str(uuid.uuid4()), user_id=user_id, name=_tag_name(body), created_at=now, updated_at=now)
    repository.TAGS.create(tag)
    return tag_view(tag)


def update_tag(user_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """PUT /api/v1/tag: rename a tag; without a name the tag is returned unchanged."""
    tag_id = _body_id(body)
    name = _tag_name(body) if body.get("name") is not None else None
    for _ in range(_ATTEMPTS):
        tag = _tag(user_id, tag_id)
        if name is None or name == tag.name:
            return tag_view(tag)
        try:
            repository.TAGS.change(tag, name, _now())
        except dynamo.Stale:
            continue  # renamed or deleted meanwhile: read it again
        return tag_view(tag)
    raise dynamo.Stale()


def delete_tag(user_id: str, tag_id: str) -> dict[str, Any]:
    """DELETE /api/v1/tag/{id}: the tag and its associations; the deleted tag."""
    for _ in range(_ATTEMPTS):
        tag = _tag(user_id, tag_id)
        try:
            repository.TAGS.delete(tag)
        except dynamo.Stale:
            continue
        # No association can name the tag any more (creating one checks the tag): remove those there are.
        repository.delete_assocs(repository.TAGS.assocs(tag.id))
        return tag_view(tag)
    raise dynamo.Stale()


# --- repos ----------------------------------------------------------------------------------------


def repo_view(repo: Repo) -> dict[str, Any]:
    """A repo as the API shows it."""
    return {
        "id": repo.id,
        "created_at": int(repo.created_at),
        "updated_at": int(repo.updated_at),
        "user_id": repo.user_id,
        "github_repo_id": repo.github_repo_id,
    }


def _repo(user_id: str, repo_id: str) -> Repo:
    repo = repository.REPOS.get(repo_id) if _is_uuid(repo_id) else None
    if repo is None or repo.user_id != user_id:
        raise UnknownRepo(f"No repo has the id '{_shown(repo_id)}'.")
    return repo


def _github_repo_id(body: dict[str, Any]) -> str:
    value = body.get("github_repo_id")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if not isinstance(value, str):
        raise InvalidGithubRepoId("'github_repo_id' is required and must be a string.")
    value = value.strip()
    if not value:
        raise InvalidGithubRepoId("'github_repo_id' must not be empty.")
    if len(value) > GITHUB_REPO_ID_MAX or not all("!" <= c <= "~" for c in value):
        raise InvalidGithubRepoId(
            f"'github_repo_id' must be at most {GITHUB_REPO_ID_MAX} printable ASCII characters, without spaces."
        )
    return value


def get_repo(user_id: str, repo_id: str) -> dict[str, Any]:
    """GET /api/v1/repo/{id}."""
    return repo_view(_repo(user_id, repo_id))


def list_repos(user_id: str) -> list[dict[str, Any]]:
    """GET /api/v1/repos: every repo of the user."""
    return [repo_view(r) for r in _ordered(repository.REPOS.of_user(user_id))]


def create_repo(user_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/v1/repo: one repo per GitHub repo id and user."""
    now = _now()
    repo = Repo(
        str(uuid.uuid4()), user_id=user_id, github_repo_id=_github_repo_id(body), created_at=now, updated_at=now
    )
    repository.REPOS.create(repo)
    return repo_view(repo)


def update_repo(user_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """PUT /api/v1/repo: point a repo at another GitHub repo; without one the repo is returned unchanged."""
    repo_id = _body_id(body)
    github_repo_id = _github_repo_id(body) if body.get("github_repo_id") is not None else None
    for _ in range(_ATTEMPTS):
        repo = _repo(user_id, repo_id)
        if github_repo_id is None or github_repo_id == repo.github_repo_id:
            return repo_view(repo)
        try:
            repository.REPOS.change(repo, github_repo_id, _now())
        except dynamo.Stale:
            continue
        return repo_view(repo)
    raise dynamo.Stale()


def delete_repo(user_id: str, repo_id: str) -> dict[str, Any]:
    """DELETE /api/v1/repo/{id}: the repo and its associations; the deleted repo."""
    for _ in range(_ATTEMPTS):
        repo = _repo(user_id, repo_id)
        try:
            repository.REPOS.delete(repo)
        except dynamo.Stale:
            continue
        repository.delete_assocs(repository.REPOS.assocs(repo.id))
        return repo_view(repo)
    raise dynamo.Stale()


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
    tag, repo = _tag(user_id, tag_id), _repo(user_id, repo_id)
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
    repo = _repo(user_id, repo_id)
    tags = repository.TAGS.by_ids([a.tag_id for a in repository.REPOS.assocs(repo.id)])
    return [tag_view(t) for t in _ordered(t for t in tags if t.user_id == user_id)]


def repos_of_tag(user_id: str, tag_id: str) -> list[dict[str, Any]]:
    """GET /api/v1/repos/tag/{id}: every repo carrying one of the user's tags."""
    tag = _tag(user_id, tag_id)
    repos = repository.REPOS.by_ids([a.repo_id for a in repository.TAGS.assocs(tag.id)])
    return [repo_view(r) for r in _ordered(r for r in repos if r.user_id == user_id)]


def _ordered(items: Any) -> list[Any]:
    """Oldest first; items created in the same second in id order, so a list reads the same twice."""
    return sorted(items, key=lambda item: (int(item.created_at), item.id))
