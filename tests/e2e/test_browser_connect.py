"""The connect flow and the proxy with the real pizzly-js client, in headless Chromium, over the local stack.

Every peer is real: an application page on its own origin loads pizzly-js 0.2.8 from npm; on a click
it opens the popup at the stack's ``/auth/local-oauth``, which redirects to a local OAuth 2
authorization server (authlib, PKCE checked), which redirects back to ``/auth/callback``, whose page
posts the outcome to ``window.opener`` and closes. The page then calls the provider's API through the
stack's proxy, cross-origin: pizzly-js sends ``Pizzly-Auth-Id``, so Chromium sends a CORS preflight.

``make test`` installs Chromium and pizzly-js; without them these tests fail, unless
``KEYPORT_SKIP_BROWSER=1`` (see docs/testing.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from tests.e2e.browser_support import (
    BROWSER_DIR,
    TIMEOUT_MS,
    launch_chromium,
    register_provider,
    require_browser,
    serve_directory,
)
from tests.e2e.conftest import RunningStack, start_stack, stop_stack

INTEGRATION = "local-oauth"
PUBLISHABLE_KEY = "pk_test_browser_5d2e8b"
CLIENT_ID = "keyport-browser-e2e"
CLIENT_SECRET = "browser-e2e-client-secret-93b1"


@dataclass
class Peers:
    """The running stack, OAuth 2 server and browser, and the URL of the application page."""

    stack: RunningStack
    provider: Any
    browser: Any
    page_url: str
    page_origin: str


@dataclass
class Session:
    """One browser context on the application page, with what its windows logged."""

    page: Any
    context: Any
    console: list[str] = field(default_factory=list)

    def evidence(self) -> str:
        """What the windows showed, for a failure message."""
        lines = [f"page {self.page.url}: {self._text(self.page)}"]
        lines += [f"window {p.url}: {self._text(p)}" for p in self.context.pages if p is not self.page]
        return "\n".join([*lines, "console:", *self.console[-20:]])

    @staticmethod
    def _text(page: Any) -> str:
        try:
            return str(page.inner_text("body", timeout=1000))[:500]
        except Exception as e:  # the window may be closing
            return f"({type(e).__name__})"


@dataclass
class Connection:
    """How pizzly-js's connect() settled, and what the callback page posted to the application page."""

    status: str  # "resolved" or "rejected"
    value: Any
    messages: list[dict[str, Any]]  # every {origin, data} the page received


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    require_browser()
    from playwright.sync_api import sync_playwright

    from tests.support.oauth2_provider import OAuth2Provider

    with ExitStack() as cleanup:
        page_origin = cleanup.enter_context(serve_directory(BROWSER_DIR))
        provider = OAuth2Provider()
        provider.start()
        cleanup.callback(provider.stop)
        stack = start_stack({"PUBLISHABLE_KEY": PUBLISHABLE_KEY, "ALLOWED_ORIGINS": page_origin})
        cleanup.callback(stop_stack, stack)
        _register(stack, provider)
        playwright = cleanup.enter_context(sync_playwright())
        browser = launch_chromium(playwright)
        cleanup.callback(browser.close)
        query = urlencode({"host": stack.url, "pkey": PUBLISHABLE_KEY, "integration": INTEGRATION})
        yield Peers(stack, provider, browser, f"{page_origin}/connect.html?{query}", page_origin)


def _register(stack: RunningStack, provider: Any) -> None:
    """The provider knows Keyport as a client; Keyport knows the provider as an integration and a configuration."""
    register_provider(stack, provider, INTEGRATION, CLIENT_ID, CLIENT_SECRET)
    configuration = requests.post(
        f"{stack.url}/api/{INTEGRATION}/configurations",
        auth=stack.auth,
        json={"credentials": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}, "scopes": ["read"]},
        timeout=10,
    )
    assert configuration.status_code == 201, configuration.text


@pytest.fixture
def session(peers: Peers) -> Iterator[Session]:
    context = peers.browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        opened = Session(page, context)
        context.on("page", lambda p: p.on("console", lambda m: opened.console.append(f"[{p.url}] {m.text}")))
        page.goto(peers.page_url)
        page.wait_for_function("typeof window.Pizzly === 'function'")
        yield opened
    finally:
        context.close()


def connect(session: Session, stack_url: str) -> Connection:
    """Click Connect (a user gesture: no popup blocking), follow the popup, and tell how connect() settled."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = session.page
    with session.context.expect_page() as opened:
        page.click("#connect")
    popup = opened.value
    try:
        page.wait_for_function("window.connectOutcome !== null", timeout=TIMEOUT_MS)
        # The callback page closes itself once it has told the opener.
        if not popup.is_closed():
            popup.wait_for_event("close", timeout=5000)
        outcome: dict[str, Any] = page.evaluate("window.connectOutcome")
    except PlaywrightTimeout as e:
        raise AssertionError(f"pizzly-js connect() did not settle as expected:\n{session.evidence()}") from e
    messages: list[dict[str, Any]] = page.evaluate("window.openerMessages")
    from_stack = [m for m in messages if m["origin"] == stack_url]
    assert len(from_stack) == 1, f"the callback page should post one message to this page: {messages}"
    event = from_stack[0]["data"]
    expected = {"AUTHORIZATION_SUCEEDED": "resolved", "AUTHORIZATION_FAILED": "rejected"}
    assert event.get("eventType") in expected, event
    assert outcome == {"status": expected[event["eventType"]], "value": event["data"]}, outcome
    return Connection(outcome["status"], outcome["value"], messages)


def authentication_ids(stack: RunningStack) -> list[str]:
    listed = requests.get(f"{stack.url}/api/{INTEGRATION}/authentications", auth=stack.auth, timeout=10)
    assert listed.status_code == 200, listed.text
    return [a["id"] for a in listed.json()["data"]]


def record_responses(session: Session) -> list[dict[str, Any]]:
    """Every response the page's network sees, preflights included (Chromium's DevTools protocol)."""
    seen: list[dict[str, Any]] = []
    cdp = session.context.new_cdp_session(session.page)
    cdp.on("Network.responseReceived", lambda event: seen.append(event))
    cdp.send("Network.enable")
    return seen


def wait_for(condition: Any, session: Session, timeout: float = 5.0) -> None:
    """Let the browser's events arrive until ``condition()`` holds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for the browser:\n{session.evidence()}")
        session.page.wait_for_timeout(50)


def test_pizzly_js_connects_and_calls_the_api_through_the_proxy(peers: Peers, session: Session) -> None:
    stack, provider = peers.stack, peers.provider
    connection = connect(session, stack.url)
    assert connection.status == "resolved", f"{connection}\n{session.evidence()}"
    auth_id = connection.value["authId"]
    assert connection.value == {"authId": auth_id, "integration": INTEGRATION}

    # The provider saw an S256 PKCE authorization request to Keyport's callback, then one code exchange.
    authorization = provider.authorization_requests[-1]
    assert authorization["redirect_uri"] == f"{stack.url}/auth/callback"
    assert authorization["code_challenge_method"] == "S256"
    exchanges = provider.grants("authorization_code")
    assert len(exchanges) == 1 and exchanges[0].status == 200, exchanges
    assert exchanges[0].form["code_verifier"]

    # The authentication holds the access token the provider issued.
    stored = requests.get(f"{stack.url}/api/{INTEGRATION}/authentications/{auth_id}", auth=stack.auth, timeout=10)
    assert stored.status_code == 200, stored.text
    access_token = exchanges[0].response["access_token"]
    assert stored.json()["payload"]["accessToken"] == access_token

    # pizzly-js's proxy call from the page's origin: preflighted, then forwarded with the bearer token.
    responses = record_responses(session)
    answer = session.page.evaluate("([authId, endpoint]) => window.callProxy(authId, endpoint)", [auth_id, "/echo"])
    assert "failed" not in answer, f"the cross-origin proxy call failed: {answer}\n{session.evidence()}"
    assert answer["status"] == 200, answer
    echoed = json.loads(answer["body"])
    assert echoed["path"] == "/api/echo" and echoed["query"] == {}, echoed
    assert echoed["headers"]["authorization"] == f"Bearer {access_token}"
    assert provider.api_requests[-1].authorized

    # What Chromium's network saw: the preflight (OPTIONS) the custom header requires, then the call.
    proxy_url = f"{stack.url}/proxy/{INTEGRATION}/echo"

    def seen(kind: str) -> list[dict[str, Any]]:
        return [r["response"] for r in responses if r["type"] == kind and r["response"]["url"].startswith(proxy_url)]

    wait_for(lambda: bool(seen("Fetch")), session)
    preflights = seen("Preflight")
    assert len(preflights) == 1, responses
    allowed = {name.lower(): value for name, value in preflights[0]["headers"].items()}
    assert preflights[0]["status"] == 204
    assert allowed["access-control-allow-origin"] == peers.page_origin
    assert "pizzly-auth-id" in allowed["access-control-allow-headers"].lower()
    assert "GET" in allowed["access-control-allow-methods"]
    answered = {name.lower(): value for name, value in seen("Fetch")[0]["headers"].items()}
    assert answered["access-control-allow-origin"] == peers.page_origin


def test_a_denied_authorization_rejects_with_the_error(peers: Peers, session: Session) -> None:
    stack, provider = peers.stack, peers.provider
    before = authentication_ids(stack)
    exchanges_before = len(provider.grants("authorization_code"))
    provider.deny_next_authorization()

    connection = connect(session, stack.url)
    assert connection.status == "rejected", f"{connection}\n{session.evidence()}"
    assert set(connection.value) == {"error"}
    error = connection.value["error"]
    assert set(error) == {"type", "message"}
    assert error["type"] == "authorization_denied"
    assert "access_denied" in error["message"]
    assert len(provider.grants("authorization_code")) == exchanges_before
    assert authentication_ids(stack) == before


def test_the_proxys_own_errors_are_readable_by_the_page(peers: Peers, session: Session) -> None:
    answer = session.page.evaluate(
        "([authId, endpoint]) => window.callProxy(authId, endpoint)", ["no-such-auth", "/echo"]
    )
    assert "failed" not in answer, f"the page could not read the proxy's answer: {answer}"
    assert answer["status"] == 404
    assert json.loads(answer["body"])["error"]["type"] == "unknown_authentication"
