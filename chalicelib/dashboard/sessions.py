"""Dashboard sign-in: the operator's secret key opens a session kept in DynamoDB; lockout; form tokens.

The cookie holds a random session id; the table holds only its SHA-256, the session's form (CSRF)
token and its expiry (and a TTL, since DynamoDB deletes expired items lazily, an expired item is
treated as absent). Signing out deletes the item, so a copied cookie stops working everywhere.

Lockout, the entity store's own (:mod:`chalicelib.lockout`): after ``LOGIN_MAX_FAILURES`` (5) wrong
keys from one client address within 15 minutes, sign-in from that address is refused with 429 for
``LOGIN_LOCKOUT_SECONDS`` (60 s), doubling with each further failure up to 15 minutes; a successful
sign-in clears the count.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from pynamodb.exceptions import DoesNotExist

from chalicelib.crypto import key_hash, keyed_hash, same
from chalicelib.dashboard.models import DashboardSession, SignInFailures
from chalicelib.dynamo import translated
from chalicelib.errors import TooManyRequests, Unauthorized
from chalicelib.lockout import Lockout
from chalicelib.settings import get_settings

COOKIE = "keyport_dashboard"
SESSION_SECONDS = 8 * 3600


class NoSecretKey(Unauthorized):
    code = "missing_secret_key"
    default_message = "This server has no secret key configured (set SECRET_KEY), so the dashboard stays closed."


class WrongKey(Unauthorized):
    code = "invalid_secret_key"
    default_message = "That is not the secret key."


class SignInLocked(TooManyRequests):
    code = "sign_in_locked"


LOCKOUT = Lockout(SignInFailures, SignInLocked, "Too many wrong keys from this address; try again in {seconds} s.")


def _expiry(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def configured() -> bool:
    """Whether a secret key is configured (without one, nothing opens)."""
    return bool(get_settings().secret_key)


def sign_in(given: str, client: str, now: int) -> tuple[str, DashboardSession]:
    """A new session for the right secret key: (cookie value, session). 401 when wrong, 429 while locked."""
    key = get_settings().secret_key
    if not key:
        raise NoSecretKey()
    attempt = LOCKOUT.attempt(keyed_hash(client, "dashboard-sign-in"), now)
    if not given or not same(given, key):
        attempt.failed()
        raise WrongKey()
    attempt.succeeded()
    value = secrets.token_urlsafe(32)
    expires_at = now + SESSION_SECONDS * 1000
    session = DashboardSession(
        key_hash(value),
        csrf=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=expires_at,
        ttl=_expiry(expires_at),
    )
    with translated():
        session.save()
    return value, session


def session_of(value: str | None, now: int) -> DashboardSession | None:
    """The live session a cookie value names, or None (unknown, expired, or no key configured)."""
    if not value or len(value) > 128 or not configured():
        return None
    with translated():
        try:
            session = DashboardSession.get(key_hash(value))
        except DoesNotExist:
            return None
    if int(session.expires_at) <= now:
        return None
    return session


def sign_out(session: DashboardSession) -> None:
    """End a session server-side."""
    with translated():
        session.delete()


def token_matches(session: DashboardSession, given: str | None) -> bool:
    """Whether a form's token is the session's own (constant time)."""
    return bool(given) and same(str(given), str(session.csrf))
