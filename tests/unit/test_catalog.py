"""Every built-in integration file is valid, and the validator refuses what it must."""

from __future__ import annotations

import json

import pytest

from chalicelib import catalog

BUILTIN_IDS = catalog.builtin_ids()
REQUIRED = [
    "github", "gitlab", "bitbucket", "google-mail", "google-calendar", "google-drive", "slack", "salesforce",
    "hubspot", "xero", "quickbooks", "shopify", "zendesk", "zoom", "dropbox", "asana", "notion", "linear", "jira",
    "microsoft", "twitter", "trello",
]  # fmt: skip


def test_the_catalog_ships_at_least_sixty_providers_including_the_required_ones() -> None:
    assert len(BUILTIN_IDS) >= 60
    assert set(REQUIRED) <= set(BUILTIN_IDS)


@pytest.mark.parametrize("integration_id", BUILTIN_IDS)
def test_each_builtin_integration_is_valid_without_plain_http(integration_id: str) -> None:
    definition = catalog.builtin(integration_id)
    assert definition is not None
    assert catalog.valid_id(integration_id)
    assert catalog.validate(definition, allow_http_loopback=False) == definition


def test_both_oauth_versions_and_client_credentials_are_represented() -> None:
    kinds = {catalog.auth_type(catalog.builtin(i) or {}) for i in BUILTIN_IDS}
    assert kinds == {"OAUTH1", "OAUTH2"}
    grants = {(catalog.builtin(i) or {})["auth"].get("grantType") for i in BUILTIN_IDS}
    assert "client_credentials" in grants


def test_builtin_lookup_refuses_path_traversal_and_unknown_ids() -> None:
    assert catalog.builtin("../app") is None
    assert catalog.builtin("GitHub") is None
    assert catalog.builtin("no-such-provider") is None


def _valid() -> dict:
    return json.loads(json.dumps(catalog.builtin("github")))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(extra=1), "Unknown field 'extra'"),
        (lambda d: d.pop("name"), "'name'"),
        (lambda d: d["auth"].update(authType="OAUTH3"), "authType"),
        (lambda d: d["auth"].update(tokenURL="http://example.com/token"), "https"),
        (lambda d: d["auth"].update(tokenURL="ftp://example.com/token"), "https"),
        (lambda d: d["auth"].update(bodyFormat="xml"), "bodyFormat"),
        (lambda d: d["auth"].update(authorizationMethod="query"), "authorizationMethod"),
        (lambda d: d["auth"].update(refreshBufferSeconds=-1), "refreshBufferSeconds"),
        (lambda d: d["request"].update(baseURL="https://${auth.accessToken}.example.com"), "placeholder"),
        (lambda d: d["request"]["headers"].update(X="${secrets.key}"), "placeholder"),
        (lambda d: d["request"]["headers"].update(X="${auth.accessToken"), "malformed"),
        (lambda d: d["request"].update(headers={"X": 1}), "string values"),
        (lambda d: d.update(request=[]), "'request'"),
    ],
)
def test_invalid_definitions_are_refused_with_the_field_named(change, message) -> None:  # type: ignore[no-untyped-def]
    definition = _valid()
    change(definition)
    with pytest.raises(catalog.InvalidIntegration) as caught:
        catalog.validate(definition, allow_http_loopback=True)
    assert message in caught.value.message


def test_plain_http_is_allowed_only_for_loopback_and_only_when_enabled() -> None:
    definition = _valid()
    definition["auth"]["tokenURL"] = "http://127.0.0.1:9999/token"
    assert catalog.validate(definition, allow_http_loopback=True)["auth"]["tokenURL"].startswith("http://127.0.0.1")
    with pytest.raises(catalog.InvalidIntegration):
        catalog.validate(definition, allow_http_loopback=False)
    definition["auth"]["tokenURL"] = "http://10.0.0.1/token"
    with pytest.raises(catalog.InvalidIntegration):
        catalog.validate(definition, allow_http_loopback=True)


def test_connect_params_are_allowed_in_urls() -> None:
    definition = _valid()
    definition["auth"]["authorizationURL"] = "https://${connectParams.shop}.myshopify.com/admin/oauth/authorize"
    assert catalog.validate(definition, allow_http_loopback=False)
