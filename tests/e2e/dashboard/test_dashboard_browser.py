"""The dashboard in headless Chromium over the local stack (`make run`'s program), as an operator uses it.

One operator session walks every page: sign in, search, save a configuration, connect an account
through a real local OAuth 2 server in a popup, refresh, reveal, delete; the broker's customers and key
rotation; publishing and entity-store users; the activity page; sign out. Every page is checked with
axe-core (no serious or critical violation) and must log nothing to the console (a CSP violation
would); each is photographed, light and dark, under build/screenshots/. A cross-site post replayed
with the session cookie but without the form token is refused.

Needs Debian's Chromium, the playwright package and axe-core (``npm ci`` in tests/e2e/dashboard);
``make test`` installs them. ``KEYPORT_SKIP_BROWSER=1`` skips these tests.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.browser_support import TIMEOUT_MS, chromium_path, launch_chromium, register_provider
from tests.e2e.conftest import ROOT, RunningStack, start_stack, stop_stack

HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "build" / "screenshots"
INTEGRATION = "local-oauth"
CLIENT_ID = "keyport-dashboard-e2e-client"
CLIENT_SECRET = "dashboard-e2e-client-secret-7c41"


def _require() -> None:
    if os.environ.get("KEYPORT_SKIP_BROWSER") == "1":
        pytest.skip("browser tests skipped: KEYPORT_SKIP_BROWSER=1")
    missing = []
    if not os.access(chromium_path(), os.X_OK):
        missing.append(f"no Chromium at {chromium_path()} (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -r requirements-dev.txt)")
    if not AXE.is_file():
        missing.append("axe-core in tests/e2e/dashboard/node_modules (npm ci there)")
    if missing:
        pytest.fail("The dashboard browser tests cannot run; missing: " + "; ".join(missing), pytrace=False)


@dataclass
class Operator:
    """The stack, the OAuth server, and one signed-in browser page with what it logged."""

    stack: RunningStack
    provider: Any
    browser: Any
    context: Any
    page: Any
    console: list[str] = field(default_factory=list)
    visited: dict[str, str] = field(default_factory=dict)  # screenshot name -> URL, for the dark pass

    @property
    def base(self) -> str:
        return f"{self.stack.url}/dashboard"

    def check(self, name: str) -> None:
        """axe-core on the current page, light then dark (no serious/critical violation), and a screenshot of each."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for scheme in ("light", "dark"):
            self.page.emulate_media(color_scheme=scheme)
            assert_accessible(self.page, f"{name} ({scheme})")
            self.page.screenshot(path=str(SCREENSHOTS / f"{name}-{scheme}.png"), full_page=True)
        self.page.emulate_media(color_scheme="light")
        self.visited[name] = self.page.url


def assert_accessible(page: Any, name: str) -> None:
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")  # DevTools evaluation: not subject to CSP
    violations = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.html)}))"""
    )
    assert violations == [], f"{name}: {json.dumps(violations, indent=2)}"


@pytest.fixture(scope="module")
def operator() -> Iterator[Operator]:
    _require()
    from playwright.sync_api import sync_playwright

    from tests.support.oauth2_provider import OAuth2Provider

    with ExitStack() as cleanup:
        provider = OAuth2Provider()
        provider.start()
        cleanup.callback(provider.stop)
        stack = start_stack()
        cleanup.callback(stop_stack, stack)
        register_provider(stack, provider, INTEGRATION, CLIENT_ID, CLIENT_SECRET)
        playwright = cleanup.enter_context(sync_playwright())
        browser = launch_chromium(playwright)
        cleanup.callback(browser.close)
        context = browser.new_context(color_scheme="light", viewport={"width": 1280, "height": 860})
        context.set_default_timeout(TIMEOUT_MS)
        cleanup.callback(context.close)
        page = context.new_page()
        found = Operator(stack, provider, browser, context, page)

        def watch(p: Any) -> None:
            p.on(
                "console",
                lambda m: found.console.append(f"[{p.url}] {m.type}: {m.text}") if m.type == "error" else None,
            )
            p.on("pageerror", lambda e: found.console.append(f"[{p.url}] pageerror: {e}"))

        context.on("page", watch)
        watch(page)
        yield found


def api(operator: Operator, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{operator.stack.url}{path}", auth=operator.stack.auth, timeout=10, **kwargs)


def notice(operator: Operator) -> str:
    """The page's confirmation notice (or, failing that, what the page says instead)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        return str(operator.page.inner_text(".alert.good[role=status]", timeout=5000))
    except PlaywrightTimeout as e:
        raise AssertionError(f"no notice on {operator.page.url}: {operator.page.inner_text('main')[:800]}") from e


def test_1_sign_in_refuses_a_wrong_key_then_opens_a_session(operator: Operator) -> None:
    page = operator.page
    page.goto(operator.base)
    assert page.url.startswith(f"{operator.base}/sign-in")
    operator.check("sign-in")
    page.get_by_label("Secret key").fill("not-the-secret-key")
    page.get_by_role("button", name="Sign in").click()
    assert "That is not the secret key." in page.inner_text("[role=alert]")
    refused = [line for line in operator.console if "status of 401" in line]
    assert len(refused) == 1  # the refused sign-in itself, answered 401 on purpose; nothing else
    operator.console.remove(refused[0])
    page.get_by_label("Secret key").fill(operator.stack.secret_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(operator.base)
    assert page.get_by_role("heading", name="Integrations").is_visible()
    cookie = next(c for c in operator.context.cookies() if c["name"] == "keyport_dashboard")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] != operator.stack.secret_key
    operator.check("integrations")


def test_2_search_narrows_the_list_as_you_type_and_without_script(operator: Operator) -> None:
    page = operator.page
    tiles = page.locator("#integrations-list > li:visible")
    everything = tiles.count()
    assert everything > 50
    page.get_by_label("Search").press_sequentially("local oa")
    assert tiles.count() == 1
    assert tiles.first.get_by_role("link").inner_text() == "Local OAuth"
    assert page.inner_text("#integrations-count") == "1 shown"
    operator.check("integrations-search")
    plain = requests.get(f"{operator.base}?q=github", cookies=_cookies(operator), timeout=10)
    assert plain.status_code == 200
    assert len(re.findall(r'<li class="tile"', plain.text)) == 1


def _cookies(operator: Operator) -> dict[str, str]:
    return {c["name"]: c["value"] for c in operator.context.cookies()}


def test_3_save_a_configuration_the_api_sees_it_masked(operator: Operator) -> None:
    page = operator.page
    page.get_by_role("link", name="Local OAuth").click()
    page.wait_for_url(f"{operator.base}/integrations/{INTEGRATION}")
    operator.check("integration-empty")
    page.get_by_label("Client ID").fill(CLIENT_ID)
    page.get_by_label("Client secret").fill(CLIENT_SECRET)
    page.get_by_label("Scopes").fill("read")
    page.get_by_role("button", name="Save configuration").click()
    assert "Configuration saved." in notice(operator)
    listed = api(operator, "GET", f"/api/{INTEGRATION}/configurations").json()["data"]
    assert len(listed) == 1
    credentials = listed[0]["credentials"]
    assert credentials["clientSecret"] == CLIENT_SECRET[:4] + "*" * (len(CLIENT_SECRET) - 4)
    html = page.content()
    assert CLIENT_SECRET not in html and CLIENT_ID not in html
    assert credentials["clientSecret"] in html
    assert page.locator("#callback-url").input_value() == f"{operator.stack.url}/auth/callback"


def test_4_connect_an_account_in_a_popup_shows_the_new_authentication(operator: Operator) -> None:
    page = operator.page
    with operator.context.expect_page() as opened:
        page.get_by_role("link", name="Connect an account").click()
    popup = opened.value
    page.wait_for_url(re.compile(r".*/authentications/[^/?]+\?notice=connected$"))
    if not popup.is_closed():
        popup.wait_for_event("close")
    auth_id = page.url.split("/authentications/")[1].split("?")[0]
    assert "Account connected" in notice(operator)
    assert page.get_by_text("Healthy").first.is_visible()
    stored = api(operator, "GET", f"/api/{INTEGRATION}/authentications/{auth_id}")
    assert stored.status_code == 200
    access_token = stored.json()["payload"]["accessToken"]
    assert access_token not in page.content()  # not until revealed
    operator.check("authentication")
    page.goto(f"{operator.base}/integrations/{INTEGRATION}")
    assert page.get_by_role("link", name=auth_id).is_visible()
    operator.check("integration")


def _auth_id(operator: Operator) -> str:
    data = api(operator, "GET", f"/api/{INTEGRATION}/authentications").json()["data"]
    return str(data[0]["id"])


def test_5_refresh_now_and_reveal(operator: Operator) -> None:
    page = operator.page
    auth_id = _auth_id(operator)
    page.goto(f"{operator.base}/integrations/{INTEGRATION}/authentications/{auth_id}")
    before = len(operator.provider.grants("refresh_token"))
    page.get_by_role("button", name="Refresh now").click()
    assert "Authentication refreshed." in notice(operator)
    assert len(operator.provider.grants("refresh_token")) == before + 1
    access_token = api(operator, "GET", f"/api/{INTEGRATION}/authentications/{auth_id}").json()["payload"][
        "accessToken"
    ]
    page.get_by_role("button", name="Reveal").click()
    assert access_token in page.inner_text("pre.payload")
    operator.check("authentication-revealed")
    page.goto(page.url.replace("/reveal", ""))
    assert access_token not in page.content()


def test_6_a_cross_site_post_with_the_cookie_but_no_token_is_refused(operator: Operator) -> None:
    setup_id = api(operator, "GET", f"/api/{INTEGRATION}/configurations").json()["data"][0]["id"]
    target = f"{operator.base}/integrations/{INTEGRATION}/configurations/{setup_id}/delete"
    # Replayed from another site: the browser context's own cookie jar, a foreign Origin, no form token.
    for origin in ("http://evil.example", operator.stack.url):
        refused = operator.context.request.post(target, form={"confirm": "1"}, headers={"Origin": origin})
        assert refused.status == 403, refused.text()
    assert len(api(operator, "GET", f"/api/{INTEGRATION}/configurations").json()["data"]) == 1


def test_7_activity_lists_what_happened(operator: Operator) -> None:
    page = operator.page
    page.get_by_role("link", name="Activity").click()
    text = page.inner_text("main")
    for label in (
        "Signed in",
        "Sign-in refused",
        "Authentication created",
        "Authentication refreshed",
        "Authentication revealed",
    ):
        assert label in text, label
    operator.check("activity")


def test_8_delete_the_authentication_after_confirming(operator: Operator) -> None:
    page = operator.page
    auth_id = _auth_id(operator)
    page.goto(f"{operator.base}/integrations/{INTEGRATION}/authentications/{auth_id}")
    page.get_by_role("link", name="Delete").click()
    assert page.get_by_role("heading", name="Delete this authentication?").is_visible()
    operator.check("confirm")
    page.get_by_role("button", name="Delete authentication").click()
    assert "Authentication deleted." in notice(operator)
    assert api(operator, "GET", f"/api/{INTEGRATION}/authentications/{auth_id}").status_code == 404


def test_9_broker_customer_and_key_rotation(operator: Operator) -> None:
    page = operator.page
    page.get_by_role("link", name="Credential broker").click()
    operator.check("broker-empty")
    page.get_by_label("Name").fill("Acme")
    page.get_by_role("button", name="Create customer").click()
    first_key = page.locator("#new-secret").input_value()
    assert first_key.startswith("kpc_")
    operator.check("secret-once")
    page.get_by_role("link", name="Open the customer").click()
    customer_id = page.url.rsplit("/", 1)[1]
    page.get_by_label("Name").fill("worker-1")
    page.get_by_role("button", name="Create instance").click()
    assert page.locator("#new-secret").input_value()
    page.get_by_role("link", name="Back to the customer").click()
    operator.check("customer")
    page.get_by_role("link", name="Rotate API key").click()
    page.get_by_role("button", name="Rotate key").click()
    second_key = page.locator("#new-secret").input_value()
    assert second_key.startswith("kpc_") and second_key != first_key
    connections = f"{operator.stack.url}/v1/customers/{customer_id}/connections"
    assert requests.get(connections, headers={"X-Api-Key": first_key}, timeout=10).status_code in (401, 403)
    assert requests.get(connections, headers={"X-Api-Key": second_key}, timeout=10).status_code == 200
    page.goto(f"{operator.base}/broker")
    operator.check("broker")


def test_10_publishing_and_entity_store_users(operator: Operator) -> None:
    page = operator.page
    page.get_by_role("link", name="Publishing").click()
    page.get_by_label("Email", exact=True).fill("editor@example.com")
    page.get_by_role("button", name="Create user").click()
    assert page.locator("#new-secret").input_value()
    page.goto(f"{operator.base}/publishing")
    page.get_by_label("Group name").fill("Newsroom")
    page.get_by_role("button", name="Create group").click()
    assert "Group created." in notice(operator)
    page.get_by_label("User email or id").fill("editor@example.com")
    page.get_by_role("button", name="Save member").click()
    assert "editor@example.com" in page.inner_text("main")
    operator.check("publishing-group")
    page.goto(f"{operator.base}/publishing")
    operator.check("publishing")
    page.get_by_role("link", name="Entity store").click()
    page.get_by_label("Login").fill("alice")
    page.get_by_label("Password").fill("a-long-password-123")
    page.get_by_label("Group", exact=True).fill("staff")
    page.get_by_role("button", name="Create user").click()
    assert "User created." in notice(operator)
    assert api(operator, "GET", "/admin/platform/users/alice").status_code == 200
    operator.check("entities")


def test_11_sign_out_ends_the_session(operator: Operator) -> None:
    page = operator.page
    cookies = _cookies(operator)
    page.goto(operator.base)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/dashboard/sign-in.*"))
    assert "You are signed out." in notice(operator)
    replayed = requests.get(operator.base, cookies=cookies, allow_redirects=False, timeout=10)
    assert replayed.status_code == 303 and "/dashboard/sign-in" in replayed.headers["Location"]


def test_12_no_console_errors(operator: Operator) -> None:
    assert operator.console == [], "\n".join(operator.console)
