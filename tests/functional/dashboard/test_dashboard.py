"""The dashboard over the Chalice test client and moto: sessions, form tokens, lockout, masking, headers."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

from chalice.test import Client

from tests.conftest import TEST_SECRET_KEY

HOST = "keyport.test"
ORIGIN = f"https://{HOST}"
FORM = "application/x-www-form-urlencoded"
CLIENT_ID = "client-id-0123456789abcdef"
CLIENT_SECRET = "client-secret-abcdefghijklmnop"


def headers(cookie: str | None = None, **extra: str) -> dict[str, str]:
    values = {"Host": HOST, "X-Forwarded-Proto": "https", "Accept": "text/html", **extra}
    if cookie:
        values["Cookie"] = cookie
    return values


def post(client: Client, path: str, form: dict[str, str], cookie: str | None = None, **extra: str) -> Any:
    return client.http.post(
        path,
        headers=headers(cookie, **{"Content-Type": FORM, "Origin": ORIGIN, **extra}),
        body=urlencode(form),
    )


def text(response: Any) -> str:
    body = response.body
    return body.decode() if isinstance(body, bytes) else str(body)


def sign_in(client: Client) -> tuple[str, str]:
    """Sign in; the cookie pair to send back and the session's form token."""
    response = post(client, "/dashboard/sign-in", {"secret_key": TEST_SECRET_KEY})
    assert response.status_code == 303, text(response)
    set_cookie = response.headers["Set-Cookie"]
    cookie = set_cookie.split(";", 1)[0]
    home = client.http.get("/dashboard", headers=headers(cookie))
    assert home.status_code == 200, text(home)
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(home))
    assert token
    return cookie, token.group(1)


def test_the_sign_in_page_has_a_labelled_key_field_and_strict_headers(client: Client) -> None:
    response = client.http.get("/dashboard/sign-in", headers=headers())
    assert response.status_code == 200
    page = text(response)
    assert '<label for="secret_key">Secret key</label>' in page
    assert ">Sign in</button>" in page
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_redirect_to_sign_in_without_a_session(client: Client) -> None:
    response = client.http.get("/dashboard/activity", headers=headers())
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/sign-in?next=%2Fdashboard%2Factivity"


def test_the_right_key_opens_a_session_cookie_that_is_not_the_key(client: Client) -> None:
    response = post(client, "/dashboard/sign-in", {"secret_key": TEST_SECRET_KEY})
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert TEST_SECRET_KEY not in cookie
    attributes = [part.strip() for part in cookie.split(";")]
    assert {"HttpOnly", "SameSite=Strict", "Secure", "Path=/dashboard"} <= set(attributes)
    assert any(a.startswith("Max-Age=") and int(a.split("=")[1]) > 0 for a in attributes)
    from chalicelib.crypto import key_hash
    from chalicelib.dashboard.models import DashboardSession

    value = attributes[0].split("=", 1)[1]
    stored = list(DashboardSession.scan())
    assert [s.id for s in stored] == [key_hash(value)]  # only its hash is kept


def test_a_wrong_key_is_refused_without_a_session(client: Client) -> None:
    response = post(client, "/dashboard/sign-in", {"secret_key": "not-the-key"})
    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers
    assert "That is not the secret key." in text(response)


def test_wrong_keys_lock_the_sign_in_out_even_for_the_right_key(client: Client) -> None:
    for _ in range(5):
        assert post(client, "/dashboard/sign-in", {"secret_key": "wrong"}).status_code == 401
    locked = post(client, "/dashboard/sign-in", {"secret_key": TEST_SECRET_KEY})
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "Set-Cookie" not in locked.headers


def test_sign_out_ends_the_session_server_side(client: Client) -> None:
    cookie, token = sign_in(client)
    out = post(client, "/dashboard/sign-out", {"csrf_token": token}, cookie)
    assert out.status_code == 303
    assert "Max-Age=0" in out.headers["Set-Cookie"]
    again = client.http.get("/dashboard", headers=headers(cookie))  # the old cookie, replayed
    assert again.status_code == 303 and "/dashboard/sign-in" in again.headers["Location"]


def test_a_post_without_the_form_token_is_refused_and_changes_nothing(client: Client) -> None:
    cookie, _ = sign_in(client)
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "scopes": "read"}
    response = post(client, "/dashboard/integrations/github/configurations", form, cookie)
    assert response.status_code == 403
    assert "token" in text(response)
    listed = client.http.get("/api/github/configurations", headers={"Authorization": _basic()})
    assert json.loads(listed.body)["data"] == []


def test_a_post_from_another_origin_is_refused_even_with_the_token(client: Client) -> None:
    cookie, token = sign_in(client)
    form = {"csrf_token": token, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    response = post(client, "/dashboard/integrations/github/configurations", form, cookie, Origin="https://evil.test")
    assert response.status_code == 403
    listed = client.http.get("/api/github/configurations", headers={"Authorization": _basic()})
    assert json.loads(listed.body)["data"] == []


def test_a_token_from_another_session_is_refused(client: Client) -> None:
    cookie, _ = sign_in(client)
    _, other_token = sign_in(client)
    form = {"csrf_token": other_token, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert post(client, "/dashboard/integrations/github/configurations", form, cookie).status_code == 403


def _basic() -> str:
    import base64

    return "Basic " + base64.b64encode(f"{TEST_SECRET_KEY}:".encode()).decode()


def test_a_saved_configuration_is_stored_and_shown_masked_as_the_api_masks_it(client: Client) -> None:
    cookie, token = sign_in(client)
    form = {"csrf_token": token, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "scopes": "repo, user"}
    saved = post(client, "/dashboard/integrations/github/configurations", form, cookie)
    assert saved.status_code == 303, text(saved)
    listed = json.loads(client.http.get("/api/github/configurations", headers={"Authorization": _basic()}).body)
    [configuration] = listed["data"]
    assert configuration["scopes"] == ["repo", "user"]
    page = text(client.http.get("/dashboard/integrations/github", headers=headers(cookie)))
    assert CLIENT_SECRET not in page and CLIENT_ID not in page
    assert configuration["credentials"]["clientSecret"] in page
    assert configuration["credentials"]["clientId"] in page

    # Posting the masked values back keeps the stored secrets (what the API does with them too).
    setup_id = configuration["id"]
    form = {
        "csrf_token": token,
        "client_id": configuration["credentials"]["clientId"],
        "client_secret": configuration["credentials"]["clientSecret"],
        "scopes": "repo",
    }
    assert post(client, f"/dashboard/integrations/github/configurations/{setup_id}", form, cookie).status_code == 303
    from chalicelib.oauth import providers

    stored = providers.configuration(setup_id)
    assert stored is not None and providers.client_credentials(stored) == (CLIENT_ID, CLIENT_SECRET)


def test_the_api_validation_error_is_shown_beside_the_field(client: Client) -> None:
    cookie, token = sign_in(client)
    form = {"csrf_token": token, "client_id": "", "client_secret": CLIENT_SECRET, "scopes": ""}
    response = post(client, "/dashboard/integrations/github/configurations", form, cookie)
    assert response.status_code == 400
    assert 'class="field-error" id="err-cred-new">&#39;credentials.clientId&#39; must be a non-empty string.' in text(
        response
    )


def test_without_a_secret_key_the_dashboard_says_so_and_opens_nothing(client: Client, monkeypatch: Any) -> None:
    from chalicelib.settings import clear_settings

    monkeypatch.delenv("SECRET_KEY")
    clear_settings()
    try:
        page = client.http.get("/dashboard/sign-in", headers=headers())
        assert page.status_code == 503
        assert "no secret key configured" in text(page)
        assert 'name="secret_key"' not in text(page)
        refused = post(client, "/dashboard/sign-in", {"secret_key": ""})
        assert refused.status_code == 503 and "Set-Cookie" not in refused.headers
        assert client.http.get("/dashboard", headers=headers()).status_code == 303
    finally:
        monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
        clear_settings()


def test_sign_ins_are_in_the_activity_log(client: Client) -> None:
    post(client, "/dashboard/sign-in", {"secret_key": "wrong"})
    cookie, _ = sign_in(client)
    page = text(client.http.get("/dashboard/activity", headers=headers(cookie)))
    assert "Signed in" in page and "Sign-in refused" in page


def test_dashboard_errors_answer_html_pages_not_a_json_body(client: Client) -> None:
    refused = client.http.delete("/dashboard", headers=headers())
    assert refused.status_code == 405
    assert refused.headers["Content-Type"].startswith("text/html")
    assert "<!doctype html>" in text(refused) and "frame-ancestors 'none'" in refused.headers["Content-Security-Policy"]
    cookie, _ = sign_in(client)
    missing = client.http.get("/dashboard/integrations/no-such-thing", headers=headers(cookie))
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("text/html")
    assert "unknown_integration" in text(missing)


def test_static_assets_are_served_with_a_long_cache_when_asked_by_hash(client: Client) -> None:
    from chalicelib.dashboard.render import asset_version

    version = asset_version("dashboard.css")
    response = client.http.get(f"/dashboard/static/dashboard.css?v={version}", headers=headers())
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/css")
    assert "immutable" in response.headers["Cache-Control"]
    assert client.http.get("/dashboard/static/sessions.py", headers=headers()).status_code == 404


def test_a_definition_nested_too_deep_is_refused_beside_the_field(client: Client) -> None:
    cookie, token = sign_in(client)
    form = {"csrf_token": token, "id": "deep", "definition": "[" * 10_000 + "]" * 10_000}
    response = post(client, "/dashboard/new-integration", form, cookie)
    assert response.status_code == 400
    assert "This is not valid JSON" in text(response)
    from chalicelib.oauth import providers

    assert providers.custom_definition("deep") is None


def _configurations(client: Client) -> list[dict[str, Any]]:
    listed = client.http.get("/api/github/configurations", headers={"Authorization": _basic()})
    data: list[dict[str, Any]] = json.loads(listed.body)["data"]
    return data


def test_a_deletion_asks_first_then_deletes_logs_it_and_goes_back(client: Client) -> None:
    cookie, token = sign_in(client)
    form = {"csrf_token": token, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "scopes": "repo"}
    assert post(client, "/dashboard/integrations/github/configurations", form, cookie).status_code == 303
    setup_id = _configurations(client)[0]["id"]
    here = f"/dashboard/integrations/github/configurations/{setup_id}/delete"

    asked = client.http.get(here, headers=headers(cookie))
    assert asked.status_code == 200
    page = text(asked)
    assert "<h1>Delete this configuration?</h1>" in page and "no authentication goes" in page
    assert f'action="{here}"' in page and 'href="/dashboard/integrations/github">Cancel' in page
    assert len(_configurations(client)) == 1

    done = post(client, here, {"csrf_token": token}, cookie)
    assert done.status_code == 303
    assert done.headers["Location"] == "/dashboard/integrations/github?notice=configuration_deleted"
    assert _configurations(client) == []
    log = text(client.http.get("/dashboard/activity", headers=headers(cookie)))
    assert "Configuration deleted" in log and f"github/{setup_id}" in log
    unknown = client.http.get("/dashboard/integrations/github/configurations/nope/delete", headers=headers(cookie))
    assert unknown.status_code == 404


def test_older_events_pages_show_every_event_of_a_busy_millisecond_once(client: Client) -> None:
    from chalicelib import activity
    from chalicelib.http import now_ms

    at = now_ms() - 60_000
    subjects = [f"auth-{n:03d}" for n in range(120)]  # more than two pages, all in one millisecond
    for subject in subjects:
        activity.record("authentication.refreshed", "sweep", subject, at=at)
    cookie, _ = sign_in(client)
    seen: list[str] = []
    path: str | None = "/dashboard/activity"
    pages = 0
    while path and pages < 5:
        page = client.http.get(path, headers=headers(cookie))
        assert page.status_code == 200, text(page)
        seen += re.findall(r">(auth-\d{3})<", text(page))
        found = re.search(r'href="(/dashboard/activity\?before=[^"]+)"', text(page))
        path = found.group(1) if found else None
        pages += 1
    assert sorted(seen) == subjects and pages >= 3


def test_a_cursor_that_is_not_one_reads_the_first_page(client: Client) -> None:
    cookie, _ = sign_in(client)
    for before in ("abc", "1" * 14, "1-XYZ", "-0badcafe"):
        page = client.http.get(f"/dashboard/activity?before={before}", headers=headers(cookie))
        assert page.status_code == 200 and "Signed in" in text(page)
