"""Operators manage users and groups; users sign in with a cookie or a token; errors in the platform body."""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parsedate_to_datetime

import pytest

from tests.support.entities_stack import ADMIN, PASSWORD, PLATFORM_401, Platform


def test_an_operator_creates_a_user_and_the_group_with_it(platform: Platform) -> None:
    user = platform.add_user("ann", "ops")
    assert user["login"] == "ann" and user["group"]["name"] == "ops"
    assert len(user["_id"]) == 24 and len(user["group"]["_id"]) == 24
    assert "password" not in str(user) and "scrypt" not in str(user)

    second = platform.add_user("bob", "ops")
    assert second["group"]["_id"] == user["group"]["_id"]

    group = platform.admin("GET", "/admin/platform/groups/ops")
    assert group.status == 200 and group.body["_id"] == user["group"]["_id"]
    members = platform.admin("GET", "/admin/platform/users?group=ops")
    assert [u["login"] for u in members.body["data"]] == ["ann", "bob"]


def test_passwords_are_stored_as_scrypt_hashes(platform: Platform) -> None:
    from chalicelib.entities.models import PlatformUser

    platform.add_user("ann", "ops")
    stored = PlatformUser.get("ann").password_hash
    assert stored.startswith("scrypt$") and PASSWORD not in stored


def test_operator_routes_need_the_secret_key_and_answer_in_the_operator_body(platform: Platform) -> None:
    reply = platform.call("POST", "/admin/platform/users", {"login": "x", "password": PASSWORD, "group": "g"})
    assert reply.status == 401
    assert reply.body["error"]["type"] == "missing_secret_key"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"login": "a b", "password": PASSWORD, "group": "g"}, "invalid_login"),
        ({"login": "ann\n", "password": PASSWORD, "group": "g"}, "invalid_login"),
        ({"login": "ann", "password": PASSWORD, "group": "ops\n"}, "invalid_group"),
        ({"login": "ann", "password": "short", "group": "g"}, "invalid_password"),
        ({"login": "ann", "password": PASSWORD, "group": "bad/name"}, "invalid_group"),
        ({"login": "ann", "password": PASSWORD}, "invalid_group"),
        ({"login": "ann", "password": PASSWORD, "group": "g", "admin": True}, "bad_request"),
    ],
)
def test_invalid_users_are_refused(platform: Platform, body: dict, code: str) -> None:
    reply = platform.admin("POST", "/admin/platform/users", body)
    assert reply.status == 400 and reply.body["error"]["type"] == code


def test_logins_and_group_names_are_unique(platform: Platform) -> None:
    platform.add_user("ann", "ops")
    again = platform.admin("POST", "/admin/platform/users", {"login": "ann", "password": PASSWORD, "group": "x"})
    assert again.status == 409
    created = platform.admin("POST", "/admin/platform/groups", {"name": "sales"})
    assert created.status == 201 and created.body["group"]["name"] == "sales"
    assert platform.admin("POST", "/admin/platform/groups", {"name": "sales"}).status == 409
    names = [g["name"] for g in platform.admin("GET", "/admin/platform/groups").body["data"]]
    assert names == ["ops", "sales"]


def test_a_group_with_members_cannot_be_removed_until_they_move(platform: Platform) -> None:
    platform.add_user("ann", "ops")
    refused = platform.admin("DELETE", "/admin/platform/groups/ops")
    assert refused.status == 409 and refused.body["error"]["type"] == "group_not_empty"
    moved = platform.admin("PATCH", "/admin/platform/users/ann", {"group": "sales"})
    assert moved.status == 200 and moved.body["user"]["group"]["name"] == "sales"
    assert platform.admin("DELETE", "/admin/platform/groups/ops").status == 200
    assert platform.admin("GET", "/admin/platform/groups/ops").status == 404


def test_admin_lists_are_paged(platform: Platform) -> None:
    for login in ("a1", "a2", "a3"):
        platform.add_user(login, "g")
    first = platform.admin("GET", "/admin/platform/users?limit=2").body
    assert [u["login"] for u in first["data"]] == ["a1", "a2"] and first["has_more"]
    second = platform.admin("GET", f"/admin/platform/users?limit=2&cursor={first['next_cursor']}").body
    assert [u["login"] for u in second["data"]] == ["a3"] and not second["has_more"]
    assert platform.admin("GET", "/admin/platform/users/nobody").status == 404


def test_signing_in_sets_the_documented_cookie_and_body(platform: Platform) -> None:
    from chalicelib.entities.models import Credential

    platform.add_user("ann", "ops")
    reply = platform.call("POST", "/api/v1/auth", {"login": "ann", "password": PASSWORD})
    assert reply.status == 200
    assert reply.body == {"sucess": True, "success": True}
    cookie = reply.headers["Set-Cookie"]
    parts = [p.strip() for p in cookie.split(";")]
    name, _, sid = parts[0].partition("=")
    assert name == "sid" and len(sid) > 30
    assert "Path=/" in parts and "HttpOnly" in parts
    assert "Secure" in parts and "SameSite=Lax" in parts  # deployed (not KEYPORT_LOCAL)
    expires = parsedate_to_datetime(next(p for p in parts if p.startswith("Expires="))[len("Expires=") :])
    stored = list(Credential.scan())
    assert len(stored) == 1 and stored[0].kind == "session"
    assert stored[0].id != sid and sid not in stored[0].id  # only the hash is kept
    assert int(stored[0].expires_at) == int(expires.timestamp() * 1000)  # the session ends when the cookie says
    assert stored[0].ttl is not None

    me = platform.call("GET", "/api/v1/auth", headers={"Cookie": f"theme=dark; sid={sid}"})
    assert me.status == 200 and me.body["login"] == "ann"


def test_locally_the_cookie_is_neither_secure_nor_same_site(
    platform: Platform, settings_env: Callable[..., None]
) -> None:
    settings_env(KEYPORT_LOCAL="1")
    platform.add_user("ann", "ops")
    cookie = platform.call("POST", "/api/v1/auth", {"login": "ann", "password": PASSWORD}).headers["Set-Cookie"]
    assert "Secure" not in cookie and "SameSite" not in cookie and "HttpOnly" in cookie


def test_an_expired_session_is_refused(platform: Platform) -> None:
    from chalicelib.entities import auth
    from chalicelib.entities.models import Credential

    platform.add_user("ann", "ops")
    headers = platform.sign_in("ann")
    credential = next(iter(Credential.scan()))
    with pytest.raises(auth.NotAuthenticated):
        auth.authenticate({"cookie": headers["Cookie"]}, now=int(credential.expires_at))
    assert auth.authenticate({"cookie": headers["Cookie"]}, now=int(credential.expires_at) - 1).login == "ann"


def test_logout_ends_the_session_and_clears_the_cookie(platform: Platform) -> None:
    platform.add_user("ann", "ops")
    headers = platform.sign_in("ann")
    out = platform.call("POST", "/api/v1/auth/logout", headers=headers)
    assert out.status == 200 and out.body["sucess"] is True
    assert out.headers["Set-Cookie"].startswith("sid=;") and "1970" in out.headers["Set-Cookie"]
    again = platform.call("GET", "/api/v1/things", headers=headers)
    assert again.status == 401 and again.body == PLATFORM_401


def test_a_token_is_issued_with_its_times_and_works_as_bearer(platform: Platform) -> None:
    platform.add_user("ann", "ops")
    reply = platform.call("POST", "/api/v1/auth/token", {"login": "ann", "password": PASSWORD})
    assert reply.status == 200
    body = reply.body
    assert body["sucess"] is True and body["success"] is True and body["type"] == "access"
    assert body["expiresAt"] - body["issuedAt"] <= 86_400_000 and body["expiresAt"] - body["issuedAt"] > 86_399_000
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert platform.call("GET", "/api/v1/auth", headers=bearer).body["login"] == "ann"
    # A token is not a session id, and a session id is not a token.
    assert platform.call("GET", "/api/v1/auth", headers={"Cookie": f"sid={body['token']}"}).status == 401
    session = platform.sign_in("ann")["Cookie"].split("=", 1)[1]
    assert platform.call("GET", "/api/v1/auth", headers={"Authorization": f"Bearer {session}"}).status == 401

    short = platform.call("POST", "/api/v1/auth/token", {"login": "ann", "password": PASSWORD, "expiresIn": 600})
    assert short.body["expiresAt"] - short.body["issuedAt"] <= 600_000
    logout = platform.call("POST", "/api/v1/auth/logout", headers=bearer)
    assert logout.status == 200 and "Set-Cookie" not in logout.headers
    assert platform.call("GET", "/api/v1/auth", headers=bearer).status == 401


@pytest.mark.parametrize("expires_in", [0, 59, 2592001, "600", 1.5, True])
def test_an_invalid_token_lifetime_is_refused(platform: Platform, expires_in: object) -> None:
    platform.add_user("ann", "ops")
    reply = platform.call("POST", "/api/v1/auth/token", {"login": "ann", "password": PASSWORD, "expiresIn": expires_in})
    assert reply.status == 400 and reply.body["tags"] == ["error_bad_request"]


def test_scoped_tokens_are_refused_rather_than_silently_widened(platform: Platform) -> None:
    platform.add_user("ann", "ops")
    body = {"login": "ann", "password": PASSWORD, "scopes": ["objects:read"]}
    assert platform.call("POST", "/api/v1/auth/token", body).status == 400


@pytest.mark.parametrize("path", ["/api/v1/auth", "/api/v1/auth/token"])
def test_wrong_credentials_answer_401_in_the_documented_body(platform: Platform, path: str) -> None:
    platform.add_user("ann", "ops")
    for body in ({"login": "ann", "password": "wrong-password"}, {"login": "nobody", "password": PASSWORD}):
        reply = platform.call("POST", path, body)
        assert reply.status == 401 and reply.body == PLATFORM_401
        assert "Set-Cookie" not in reply.headers
    missing = platform.call("POST", path, {"login": "ann"})
    assert missing.status == 400 and missing.body["code"] == "400"


def test_repeated_failures_lock_the_login_with_429_then_it_opens_again(
    platform: Platform, settings_env: Callable[..., None]
) -> None:
    from chalicelib.entities import auth
    from chalicelib.entities.models import LoginFailures
    from chalicelib.errors import TooManyRequests

    settings_env(LOGIN_MAX_FAILURES="3", LOGIN_LOCKOUT_SECONDS="60")
    platform.add_user("ann", "ops")
    wrong = {"login": "ann", "password": "wrong-password"}
    for _ in range(3):
        assert platform.call("POST", "/api/v1/auth", wrong).status == 401
    locked = platform.call("POST", "/api/v1/auth", {"login": "ann", "password": PASSWORD})
    assert locked.status == 429
    assert locked.body["success"] is False and locked.body["code"] == "429"
    assert locked.body["tags"] == ["error_too_many_requests"]
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
    assert platform.call("POST", "/api/v1/auth/token", {"login": "ann", "password": PASSWORD}).status == 429
    # Another login is not affected.
    platform.add_user("bob", "ops")
    assert platform.call("POST", "/api/v1/auth", {"login": "bob", "password": PASSWORD}).status == 200

    record = next(iter(LoginFailures.scan()))
    later = int(record.locked_until)
    assert auth.start_session({"login": "ann", "password": PASSWORD}, now=later).principal.login == "ann"
    assert not list(LoginFailures.scan())  # a successful login clears the count
    # A further failure after a lock doubles the next lock.
    for _ in range(3):
        with pytest.raises(auth.WrongCredentials):
            auth.start_session(wrong, now=later + 1)
    with pytest.raises(auth.WrongCredentials):
        auth.start_session(wrong, now=later + 61_000)
    relocked = LoginFailures.get(record.id)
    assert int(relocked.locked_until) == later + 61_000 + 120_000
    with pytest.raises(TooManyRequests):
        auth.start_session({"login": "ann", "password": PASSWORD}, now=later + 62_000)


def test_unknown_logins_are_counted_too(platform: Platform, settings_env: Callable[..., None]) -> None:
    settings_env(LOGIN_MAX_FAILURES="2")
    for _ in range(2):
        assert platform.call("POST", "/api/v1/auth", {"login": "ghost", "password": "whatever1"}).status == 401
    assert platform.call("POST", "/api/v1/auth", {"login": "ghost", "password": "whatever1"}).status == 429


def test_a_new_password_ends_old_sessions_and_tokens(platform: Platform) -> None:
    platform.add_user("ann", "ops")
    session, token = platform.sign_in("ann"), platform.token("ann")
    changed = platform.admin("PATCH", "/admin/platform/users/ann", {"password": "a-new-password"})
    assert changed.status == 200
    assert platform.call("GET", "/api/v1/auth", headers=session).status == 401
    assert platform.call("GET", "/api/v1/auth", headers=token).status == 401
    assert platform.call("POST", "/api/v1/auth", {"login": "ann", "password": PASSWORD}).status == 401
    assert platform.call("POST", "/api/v1/auth", {"login": "ann", "password": "a-new-password"}).status == 200


def test_a_removed_user_is_signed_out_even_if_the_login_is_reused(platform: Platform) -> None:
    platform.add_user("ann", "ops")
    session = platform.sign_in("ann")
    assert platform.admin("DELETE", "/admin/platform/users/ann").status == 200
    platform.add_user("ann", "ops")
    assert platform.call("GET", "/api/v1/auth", headers=session).status == 401


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Cookie": "sid=not-a-session"},
        {"Cookie": "other=1"},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic " + "YW5uOnB3"},
        ADMIN,
    ],
)
def test_requests_without_a_valid_session_get_the_documented_401(platform: Platform, headers: dict) -> None:
    for method, path in (("GET", "/api/v1/things"), ("POST", "/api/v1/things"), ("GET", "/api/v1/auth")):
        reply = platform.call(method, path, {} if method == "POST" else None, headers)
        assert reply.status == 401, (method, path)
        assert reply.body == PLATFORM_401


def test_operator_bodies_answer_unknown_fields_then_an_unknown_login_then_a_bad_value(platform: Platform) -> None:
    unknown = platform.admin("PATCH", "/admin/platform/users/nobody", {"zz": 1, "admin": True})
    assert (unknown.status, unknown.body["error"]) == (
        400,
        {"type": "bad_request", "message": "Unknown field(s): admin, zz; allowed: group, password."},
    )
    empty = platform.admin("PATCH", "/admin/platform/users/nobody", {})
    assert (empty.status, empty.body["error"]["message"]) == (400, "Give 'password', 'group' or both.")
    assert platform.admin("PATCH", "/admin/platform/users/nobody", {"password": None}).status == 404
    platform.add_user("ann", "ops")
    refused = platform.admin("PATCH", "/admin/platform/users/ann", {"password": None, "group": "bad/name"})
    assert (refused.status, refused.body["error"]) == (
        400,
        {"type": "invalid_password", "message": "'password' must be a string of 8 to 1024 characters."},
    )
    group = platform.admin("POST", "/admin/platform/groups", {"name": "_g"})
    assert (group.status, group.body["error"]["type"]) == (400, "invalid_group")
