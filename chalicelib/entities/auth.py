"""Sessions (cookie ``sid``), access tokens (``Authorization: Bearer``), and the login lockout.

Session ids and tokens are random, shown once, and stored only as their SHA-256 with an expiry (and a
TTL). A request's credential is checked against the user as it is now: a deleted user, or a password
changed since the credential was issued, ends it.

Lockout: after ``LOGIN_MAX_FAILURES`` (5) failed logins for one login name within 15 minutes, that login
is refused with 429 for ``LOGIN_LOCKOUT_SECONDS`` (60 s), doubling with every further failure up to 15
minutes; a successful login clears the count. Unknown logins are counted the same way and cost the same
scrypt work, so answers do not tell which logins exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache
from typing import Any

from chalicelib.crypto import hash_password, key_hash, new_key, verify_password
from chalicelib.entities import repository
from chalicelib.entities.accounts import LOGIN_PATTERN, PASSWORD_MAX
from chalicelib.entities.models import Credential, LoginFailures, PlatformUser
from chalicelib.errors import BadRequest, TooManyRequests, Unauthorized
from chalicelib.http import is_unicode, now_ms
from chalicelib.lockout import Lockout
from chalicelib.settings import get_settings

SESSION, ACCESS = "session", "access"
COOKIE = "sid"
TOKEN_MIN_SECONDS, TOKEN_MAX_SECONDS = 60, 30 * 24 * 3600


class WrongCredentials(Unauthorized):
    code = "wrong_credentials"
    default_message = "The login or the password is wrong."


class NotAuthenticated(Unauthorized):
    code = "unauthorized"
    default_message = "Sign in first: send the sid cookie from POST /api/v1/auth, or a Bearer token."


class LoginLocked(TooManyRequests):
    code = "login_locked"


LOCKOUT = Lockout(LoginFailures, LoginLocked, "Too many failed logins; try again in {seconds} s.")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user, their group, and the credential they used."""

    user_id: str
    login: str
    group_id: str
    kind: str
    credential_id: str

    @property
    def principals(self) -> tuple[str, str]:
        """The ids an access list may name to reach this caller: their own and their group's."""
        return (self.user_id, self.group_id)


@dataclass(frozen=True)
class Issued:
    """A new session id or token, shown once."""

    secret: str
    issued_at: int
    expires_at: int
    principal: Principal


# --- signing in --------------------------------------------------------------------------------------


def _login_and_password(body: dict[str, Any]) -> tuple[str, str]:
    login, password = body.get("login"), body.get("password")
    if not isinstance(login, str) or not isinstance(password, str):
        raise BadRequest("'login' and 'password' are required strings.", code="missing_credentials")
    return login, password


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    """A hash to verify against when the login is unknown, so both cases cost the same."""
    return hash_password("keyport-decoy-password")


def verify_login(body: dict[str, Any], now: int) -> PlatformUser:
    """The user whose login and password the body carries; 401 when wrong, 429 while locked out."""
    login, password = _login_and_password(body)
    attempt = LOCKOUT.attempt(key_hash("platform-login|" + login[:256]), now)
    plausible = LOGIN_PATTERN.match(login) is not None and len(password) <= PASSWORD_MAX
    user = repository.get_user(login) if plausible else None
    matches = verify_password(password[:PASSWORD_MAX], user.password_hash if user else _decoy_hash())
    if user is None or not matches:
        attempt.failed()
        raise WrongCredentials()
    attempt.succeeded()
    return user


def _issue(user: PlatformUser, kind: str, now: int, lifetime_seconds: int) -> Issued:
    secret = new_key("kps_" if kind == SESSION else "kpt_")
    # Whole seconds, so the store and the cookie's Expires (second precision) agree exactly.
    expires_at = (now + lifetime_seconds * 1000) // 1000 * 1000
    credential = Credential(
        key_hash(secret),
        kind=kind,
        user_id=user.id,
        login=user.login,
        credentials_version=int(user.credentials_version),
        created_at=now,
        expires_at=expires_at,
    )
    repository.put_credential(credential)
    principal = Principal(user.id, user.login, user.group_id, kind, credential.id)
    return Issued(secret, now, expires_at, principal)


def start_session(body: dict[str, Any], now: int | None = None) -> Issued:
    """POST /api/v1/auth: a new session for a correct login and password."""
    now = now_ms() if now is None else now
    user = verify_login(body, now)
    return _issue(user, SESSION, now, get_settings().session_ttl_seconds)


def issue_token(body: dict[str, Any], now: int | None = None) -> Issued:
    """POST /api/v1/auth/token: a new access token; ``expiresIn`` (seconds) chooses its lifetime."""
    now = now_ms() if now is None else now
    lifetime = get_settings().token_ttl_seconds
    expires_in = body.get("expiresIn")
    if expires_in is not None:
        if isinstance(expires_in, bool) or not isinstance(expires_in, int):
            raise BadRequest("'expiresIn' must be a whole number of seconds.", code="invalid_expires_in")
        if not TOKEN_MIN_SECONDS <= expires_in <= TOKEN_MAX_SECONDS:
            raise BadRequest(
                f"'expiresIn' must be between {TOKEN_MIN_SECONDS} and {TOKEN_MAX_SECONDS} seconds.",
                code="invalid_expires_in",
            )
        lifetime = expires_in
    if body.get("scopes"):
        raise BadRequest("Scoped tokens are not supported: omit 'scopes'.", code="unsupported_scopes")
    user = verify_login(body, now)
    return _issue(user, ACCESS, now, lifetime)


def end(principal: Principal) -> None:
    """POST /api/v1/auth/logout: forget the session or token the caller used."""
    repository.delete_credential(principal.credential_id)


# --- checking requests -----------------------------------------------------------------------------


def cookie_value(header: str | None, name: str = COOKIE) -> str | None:
    """The value of cookie ``name`` in a Cookie header, or None."""
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key.strip() == name:
            return value.strip().strip('"') or None
    return None


def _bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, value = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate(
    headers: Mapping[str, str], query: Mapping[str, str] | None = None, now: int | None = None
) -> Principal:
    """The caller of a request: an ``Authorization: Bearer`` token, a ``?token=`` (websockets), or the sid cookie.

    ``headers`` must be keyed in lower case.
    """
    token = _bearer(headers) or (query or {}).get("token")
    if token:
        return _principal(token, ACCESS, now)
    session = cookie_value(headers.get("cookie"))
    if session:
        return _principal(session, SESSION, now)
    raise NotAuthenticated()


def _principal(secret: str, kind: str, now: int | None) -> Principal:
    now = now_ms() if now is None else now
    if len(secret) > 512 or not is_unicode(secret):  # a websocket's ?token= is not checked by the middleware
        raise NotAuthenticated("This credential is not valid.")
    credential = repository.get_credential(key_hash(secret))
    if credential is None or credential.kind != kind or int(credential.expires_at) <= now:
        raise NotAuthenticated("This session or token is not valid, or has expired; sign in again.")
    user = repository.get_user(credential.login)
    if (
        user is None
        or user.id != credential.user_id
        or int(user.credentials_version) != int(credential.credentials_version)
    ):
        raise NotAuthenticated("This session or token is no longer valid; sign in again.")
    return Principal(user.id, user.login, user.group_id, kind, credential.id)


# --- cookies ------------------------------------------------------------------------------------------


def _http_date(ms: int) -> str:
    return format_datetime(datetime.fromtimestamp(ms // 1000, tz=UTC), usegmt=True)


def session_cookie(secret: str, expires_at: int) -> str:
    """The Set-Cookie value of a new session: Secure and SameSite=Lax unless running locally."""
    cookie = f"{COOKIE}={secret}; Path=/; Expires={_http_date(expires_at)}; HttpOnly"
    if not get_settings().local:
        cookie += "; Secure; SameSite=Lax"
    return cookie


def cleared_cookie() -> str:
    """The Set-Cookie value that removes the session cookie."""
    cookie = f"{COOKIE}=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"
    if not get_settings().local:
        cookie += "; Secure; SameSite=Lax"
    return cookie
