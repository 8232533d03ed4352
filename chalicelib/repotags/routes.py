"""Routes of the repo tags API (giistr's): authenticate, parse, call the service, answer 200.

Every route needs ``X-Github-Token``. The two user routes also accept the operator secret key (HTTP
Basic) instead: a request carrying Basic credentials is the operator's, and sees every user.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from chalice.app import Response

from chalicelib.errors import BadRequest
from chalicelib.http import json_response
from chalicelib.operators import require_secret_key
from chalicelib.services import blueprint

bp = blueprint(__name__)

TOKEN_HEADER = "x-github-token"


class MissingGithubToken(BadRequest):
    code = "missing_github_token"
    default_message = "The X-Github-Token header is required: a GitHub token of yours."


class RepeatedGithubToken(BadRequest):
    code = "repeated_github_token"
    default_message = "Send the X-Github-Token header once."


def _github_token() -> str:
    """The one X-Github-Token of the request; 400 when it is missing, empty or repeated."""
    request = bp.current_request
    multi = request.to_original_event().get("multiValueHeaders") or {}
    values = [v for name, vs in multi.items() if name.lower() == TOKEN_HEADER for v in (vs or [])]
    if not values and TOKEN_HEADER in request.headers:
        values = [request.headers[TOKEN_HEADER]]
    if len(values) > 1 or any("," in v for v in values):  # a comma: repeated headers folded into one
        raise RepeatedGithubToken()
    token = values[0].strip() if values else ""
    if not token:
        raise MissingGithubToken()
    return token


def _service() -> ModuleType:
    """The service module, imported on first use to keep cold starts small."""
    from chalicelib.repotags import service

    return service


def _user() -> tuple[ModuleType, str]:
    """Authenticate by X-Github-Token: the service module and the caller's user id."""
    service = _service()
    return service, service.authenticate(_github_token())


def _caller() -> tuple[ModuleType, Any]:
    """The operator when the request carries HTTP Basic credentials (the secret key), else the token's user."""
    request = bp.current_request
    service = _service()
    if request.headers.get("authorization", "").lower().startswith("basic "):
        require_secret_key(request)
        return service, service.OPERATOR
    return service, service.Caller(service.authenticate(_github_token()))


# --- users ----------------------------------------------------------------------------------------


@bp.route("/api/v1/user/{user_id}", methods=["GET"])
def get_user(user_id: str) -> Response:
    service, caller = _caller()
    return json_response(service.get_user(caller, user_id))


@bp.route("/api/v1/users", methods=["GET"])
def list_users() -> Response:
    service, caller = _caller()
    return json_response(service.list_users(caller))


# --- tags -----------------------------------------------------------------------------------------


@bp.route("/api/v1/tag/{tag_id}", methods=["GET"])
def get_tag(tag_id: str) -> Response:
    service, user_id = _user()
    return json_response(service.get_tag(user_id, tag_id))


@bp.route("/api/v1/tags", methods=["GET"])
def list_tags() -> Response:
    service, user_id = _user()
    return json_response(service.list_tags(user_id))


@bp.route("/api/v1/tag", methods=["POST"])
def create_tag() -> Response:
    from chalicelib.repotags.contracts import RepoTagsTagInput, read  # pydantic: body routes only (cold start)

    service, user_id = _user()
    body = read(RepoTagsTagInput, bp.current_request)
    return json_response(service.create_tag(user_id, body.name))


@bp.route("/api/v1/tag", methods=["PUT"])
def update_tag() -> Response:
    from chalicelib.repotags.contracts import RepoTagsTagUpdate, read  # pydantic: body routes only (cold start)

    service, user_id = _user()
    body = read(RepoTagsTagUpdate, bp.current_request)
    return json_response(service.update_tag(user_id, body.id, body.name))


@bp.route("/api/v1/tag/{tag_id}", methods=["DELETE"])
def delete_tag(tag_id: str) -> Response:
    service, user_id = _user()
    return json_response(service.delete_tag(user_id, tag_id))


# --- repos ----------------------------------------------------------------------------------------


@bp.route("/api/v1/repo/{repo_id}", methods=["GET"])
def get_repo(repo_id: str) -> Response:
    service, user_id = _user()
    return json_response(service.get_repo(user_id, repo_id))


@bp.route("/api/v1/repos", methods=["GET"])
def list_repos() -> Response:
    service, user_id = _user()
    return json_response(service.list_repos(user_id))


@bp.route("/api/v1/repo", methods=["POST"])
def create_repo() -> Response:
    from chalicelib.repotags.contracts import RepoTagsRepoInput, read  # pydantic: body routes only (cold start)

    service, user_id = _user()
    body = read(RepoTagsRepoInput, bp.current_request)
    return json_response(service.create_repo(user_id, body.github_repo_id))


@bp.route("/api/v1/repo", methods=["PUT"])
def update_repo() -> Response:
    from chalicelib.repotags.contracts import RepoTagsRepoUpdate, read  # pydantic: body routes only (cold start)

    service, user_id = _user()
    body = read(RepoTagsRepoUpdate, bp.current_request)
    return json_response(service.update_repo(user_id, body.id, body.github_repo_id))


@bp.route("/api/v1/repo/{repo_id}", methods=["DELETE"])
def delete_repo(repo_id: str) -> Response:
    service, user_id = _user()
    return json_response(service.delete_repo(user_id, repo_id))


# --- associations ---------------------------------------------------------------------------------

# API Gateway allows one variable name per position under a path: /api/v1/tag/{tag_id} and
# /api/v1/tag/{tag_id}/repo/{repo_id} share theirs, so the tag id is {tag_id} in both.


@bp.route("/api/v1/tag/{tag_id}/repo/{repo_id}", methods=["POST"])
def associate(tag_id: str, repo_id: str) -> Response:
    service, user_id = _user()
    return json_response(service.associate(user_id, tag_id, repo_id))


@bp.route("/api/v1/repo-tag-assoc/{assoc_id}", methods=["DELETE"])
def dissociate(assoc_id: str) -> Response:
    service, user_id = _user()
    return json_response(service.dissociate(user_id, assoc_id))


@bp.route("/api/v1/tags/repo/{repo_id}", methods=["GET"])
def tags_of_repo(repo_id: str) -> Response:
    service, user_id = _user()
    return json_response(service.tags_of_repo(user_id, repo_id))


@bp.route("/api/v1/repos/tag/{tag_id}", methods=["GET"])
def repos_of_tag(tag_id: str) -> Response:
    service, user_id = _user()
    return json_response(service.repos_of_tag(user_id, tag_id))
