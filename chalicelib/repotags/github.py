"""The GitHub API client of the repo tags service: who does a token belong to (``GET /user``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chalicelib.errors import BadGateway, ServiceUnavailable, Unauthorized
from chalicelib.http import parse_id
from chalicelib.settings import Settings, get_settings

_RETRY_AFTER_MAX = 3600


@dataclass(frozen=True)
class GithubAccount:
    """The GitHub account a token belongs to."""

    id: str


class TokenRejected(Unauthorized):
    code = "github_token_rejected"
    default_message = "GitHub rejected this token: it is not valid, has expired or was revoked."


class GithubUnavailable(ServiceUnavailable):
    code = "github_unavailable"
    default_message = "GitHub could not be reached to check the token; try again shortly."


class GithubRateLimited(GithubUnavailable):
    code = "github_rate_limited"
    default_message = "GitHub's API rate limit is exhausted, so the token cannot be checked now; try again later."


class GithubBadAnswer(BadGateway):
    code = "github_bad_answer"
    default_message = "GitHub answered GET /user with something other than a user."


def current_user(token: str) -> GithubAccount:
    """Ask GitHub whose token this is: TokenRejected (401), GithubUnavailable or GithubRateLimited (503)."""
    import requests

    from chalicelib import outbound

    settings = get_settings()
    try:
        response = outbound.session().get(
            _api_url(settings) + "/user",
            headers={
                "Authorization": f"token {token}",
                "Accept": "application/vnd.github+json",
                "User-Agent": "Keyport",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            timeout=outbound.timeout(),
            allow_redirects=False,
        )
    except outbound.DestinationNotAllowed as e:
        raise GithubUnavailable("GITHUB_API_URL names an address Keyport does not call.") from e
    except requests.RequestException as e:
        # The exception names the URL and the failure, never the headers: no token reaches the log.
        raise GithubUnavailable(f"GitHub could not be reached to check the token ({type(e).__name__}).") from e
    status = response.status_code
    if status == 200:
        return _account(response)
    if _rate_limited(status, response.headers):
        retry_after = _retry_after(response.headers)
        raise GithubRateLimited(
            f"GitHub's API rate limit is exhausted, so the token cannot be checked now; "
            f"try again in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )
    if status in (401, 403):
        raise TokenRejected()
    if status >= 500:
        raise GithubUnavailable(f"GitHub answered HTTP {status} when asked about the token; try again shortly.")
    raise GithubBadAnswer(f"GitHub answered HTTP {status} to GET /user.")


def _api_url(settings: Settings) -> str:
    """GITHUB_API_URL, refused unless https (or http on loopback where the settings allow it)."""
    url = settings.github_api_url
    parts = urlsplit(url)
    from chalicelib import outbound

    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and settings.allow_http_loopback and outbound.is_loopback_host(parts.hostname or ""):
        return url
    raise GithubUnavailable("GITHUB_API_URL must be an https URL; tokens are not sent over plain HTTP.")


def _rate_limited(status: int, headers: Any) -> bool:
    # 429, or 403 with the primary limit exhausted or a secondary limit's Retry-After.
    if status == 429:
        return True
    return status == 403 and (headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers)


def _retry_after(headers: Any) -> int:
    """Seconds until GitHub accepts requests again (Retry-After, else X-RateLimit-Reset), within bounds."""
    seconds = parse_id(str(headers.get("retry-after", "")).strip())
    if seconds is not None:
        return max(1, min(seconds, _RETRY_AFTER_MAX))
    reset = parse_id(str(headers.get("x-ratelimit-reset", "")).strip())  # ASCII digits, not isdigit()
    if reset is not None:
        return max(1, min(reset - int(time.time()), _RETRY_AFTER_MAX))
    return 60


def _account(response: Any) -> GithubAccount:
    try:
        body = response.json()
    except ValueError as e:
        raise GithubBadAnswer("GitHub answered GET /user with a body that is not JSON.") from e
    if not isinstance(body, dict):
        raise GithubBadAnswer()
    github_id = body.get("id")
    if isinstance(github_id, bool) or not isinstance(github_id, int | str) or not str(github_id).strip():
        raise GithubBadAnswer("GitHub answered GET /user without a user id.")
    return GithubAccount(id=str(github_id).strip())
