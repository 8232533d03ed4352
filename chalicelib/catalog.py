"""The integrations catalog: built-in provider files, plus custom ones operators store in DynamoDB.

Built-in definitions are the JSON files of the top-level ``integrations/`` folder (shipped inside the
Lambda package through ``vendor/integrations``, a link to it); a request reads only the file it
needs. A custom integration with the same id replaces the built-in one; custom definitions are read
through the provider lookup (:mod:`chalicelib.oauth.providers`), below every service.
"""

from __future__ import annotations

import json
import re
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chalicelib import outbound
from chalicelib.errors import BadRequest, NotFound

CATALOG_DIR = Path(__file__).resolve().parent.parent / "integrations"
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\Z")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z]+)\.([A-Za-z0-9_-]+)\}")
_PLACEHOLDER_SCOPES = frozenset({"auth", "connectParams", "headers"})
_URL_PLACEHOLDER_SCOPES = frozenset({"connectParams"})

OAUTH2 = "OAUTH2"
OAUTH1 = "OAUTH1"

# Custom definitions are cached per process for a short time, so a proxied call on a built-in
# integration does not read DynamoDB first; a change made elsewhere is seen within this delay.
CUSTOM_CACHE_SECONDS = 30.0
_custom_cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
_custom_lock = threading.Lock()


class InvalidIntegration(BadRequest):
    code = "invalid_integration"
    default_message = "The integration definition is not valid."


class UnknownIntegration(NotFound):
    code = "unknown_integration"
    default_message = "No integration has this id."


def valid_id(integration_id: str) -> bool:
    """Whether ``integration_id`` has the form of an integration id."""
    return bool(ID_PATTERN.match(integration_id))


@lru_cache(maxsize=512)
def builtin(integration_id: str) -> dict[str, Any] | None:
    """The built-in definition with this id, or None."""
    if not valid_id(integration_id):
        return None
    path = CATALOG_DIR / f"{integration_id}.json"
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    definition: dict[str, Any] = json.loads(text)
    return definition


def builtin_ids() -> list[str]:
    """The ids of every built-in integration."""
    return sorted(p.stem for p in CATALOG_DIR.glob("*.json"))


def lookup(integration_id: str) -> tuple[dict[str, Any], str]:
    """The effective definition of an integration and where it comes from ("custom" or "builtin")."""
    if not valid_id(integration_id):
        raise UnknownIntegration(f"No integration has the id '{integration_id[:64]}'.")
    now = time.monotonic()
    cached = _custom_cache.get(integration_id)
    if cached is not None and now - cached[0] < CUSTOM_CACHE_SECONDS:
        custom = cached[1]
    else:
        # Deferred: the catalog's built-in answers and the outbound guard load without pynamodb and botocore.
        from chalicelib.oauth import providers

        custom = providers.custom_definition(integration_id)
        with _custom_lock:
            _custom_cache[integration_id] = (now, custom)
    if custom is not None:
        return custom, "custom"
    definition = builtin(integration_id)
    if definition is None:
        raise UnknownIntegration(f"No integration has the id '{integration_id}'.")
    return definition, "builtin"


def get(integration_id: str) -> dict[str, Any]:
    """The effective definition of an integration (custom first, then built-in); 404 when none."""
    return lookup(integration_id)[0]


def forget_custom(integration_id: str | None = None) -> None:
    """Drop cached custom definitions (after this process changed one, and in tests)."""
    with _custom_lock:
        if integration_id is None:
            _custom_cache.clear()
        else:
            _custom_cache.pop(integration_id, None)


def fill(template: str, values: dict[str, dict[str, Any]]) -> str:
    """Replace ``${scope.name}`` placeholders from ``values[scope][name]``; a missing value is an error."""

    def replace(match: re.Match[str]) -> str:
        scope, name = match.group(1), match.group(2)
        value = values.get(scope, {}).get(name)
        if value is None:
            raise MissingTemplateValue(scope, name)
        return str(value)

    return PLACEHOLDER.sub(replace, template)


class MissingTemplateValue(BadRequest):
    code = "missing_template_value"

    def __init__(self, scope: str, name: str) -> None:
        self.scope, self.name = scope, name
        super().__init__(f"The integration needs '{scope}.{name}', which this request or authentication lacks.")


def auth_type(definition: dict[str, Any]) -> str:
    """``OAUTH2`` or ``OAUTH1``."""
    return str(definition["auth"]["authType"])


# --- validation ------------------------------------------------------------------------------------


def validate(definition: Any, *, allow_http_loopback: bool) -> dict[str, Any]:
    """A clean copy of an integration definition, or :class:`InvalidIntegration` naming the field."""
    if not isinstance(definition, dict):
        raise InvalidIntegration("An integration must be a JSON object.")
    definition = {k: v for k, v in definition.items() if k not in ("id", "object", "source")}
    _only(definition, {"name", "image", "auth", "request"}, "")
    name = definition.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise InvalidIntegration("'name' must be a non-empty string of at most 100 characters.")
    if "image" in definition:
        _url(definition["image"], "image", allow_http_loopback, placeholders=False)
    auth = definition.get("auth")
    if not isinstance(auth, dict):
        raise InvalidIntegration("'auth' must be an object.")
    kind = auth.get("authType")
    if kind == OAUTH2:
        _validate_oauth2(auth, allow_http_loopback)
    elif kind == OAUTH1:
        _validate_oauth1(auth, allow_http_loopback)
    else:
        raise InvalidIntegration("'auth.authType' must be 'OAUTH2' or 'OAUTH1'.")
    request = definition.get("request")
    if not isinstance(request, dict):
        raise InvalidIntegration("'request' must be an object.")
    _only(request, {"baseURL", "headers", "params"}, "request.")
    _url(request.get("baseURL"), "request.baseURL", allow_http_loopback, placeholders=True)
    for part in ("headers", "params"):
        if part in request:
            _string_map(request[part], f"request.{part}", templates=True)
    return definition


_OAUTH2_KEYS = {
    "authType",
    "authorizationURL",
    "tokenURL",
    "refreshURL",
    "authorizationParams",
    "tokenParams",
    "grantType",
    "authorizationMethod",
    "bodyFormat",
    "config",
    "auth",
    "pkce",
    "refreshBufferSeconds",
}
_OAUTH1_KEYS = {
    "authType",
    "requestTokenURL",
    "userAuthorizationURL",
    "accessTokenURL",
    "signatureMethod",
    "tokenParams",
    "authorizationParams",
    "config",
    "auth",
}


def _validate_oauth2(auth: dict[str, Any], allow_http: bool) -> None:
    _only(auth, _OAUTH2_KEYS, "auth.")
    grant = auth.get("grantType", "authorization_code")
    if grant not in ("authorization_code", "client_credentials"):
        raise InvalidIntegration("'auth.grantType' must be 'authorization_code' or 'client_credentials'.")
    if grant == "authorization_code" or "authorizationURL" in auth:
        _url(auth.get("authorizationURL"), "auth.authorizationURL", allow_http, placeholders=True)
    _url(auth.get("tokenURL"), "auth.tokenURL", allow_http, placeholders=True)
    if "refreshURL" in auth:
        _url(auth["refreshURL"], "auth.refreshURL", allow_http, placeholders=True)
    for part in ("authorizationParams", "tokenParams"):
        if part in auth:
            _string_map(auth[part], f"auth.{part}", templates=False)
    if auth.get("authorizationMethod", "body") not in ("body", "header"):
        raise InvalidIntegration("'auth.authorizationMethod' must be 'body' or 'header'.")
    if auth.get("bodyFormat", "form") not in ("form", "json"):
        raise InvalidIntegration("'auth.bodyFormat' must be 'form' or 'json'.")
    if "pkce" in auth and not isinstance(auth["pkce"], bool):
        raise InvalidIntegration("'auth.pkce' must be true or false.")
    buffer = auth.get("refreshBufferSeconds", 0)
    if not isinstance(buffer, int) or isinstance(buffer, bool) or not 0 <= buffer <= 86400:
        raise InvalidIntegration("'auth.refreshBufferSeconds' must be an integer from 0 to 86400.")
    _config(auth.get("config"))


def _validate_oauth1(auth: dict[str, Any], allow_http: bool) -> None:
    _only(auth, _OAUTH1_KEYS, "auth.")
    for key in ("requestTokenURL", "userAuthorizationURL", "accessTokenURL"):
        _url(auth.get(key), f"auth.{key}", allow_http, placeholders=True)
    if auth.get("signatureMethod", "HMAC-SHA1") not in ("HMAC-SHA1", "PLAINTEXT", "RSA-SHA1"):
        raise InvalidIntegration("'auth.signatureMethod' must be 'HMAC-SHA1', 'PLAINTEXT' or 'RSA-SHA1'.")
    for part in ("authorizationParams", "tokenParams"):
        if part in auth:
            _string_map(auth[part], f"auth.{part}", templates=False)
    _config(auth.get("config"))


def _config(config: Any) -> None:
    if config is None:
        return
    if not isinstance(config, dict):
        raise InvalidIntegration("'auth.config' must be an object.")
    scope = config.get("scope", [])
    if not isinstance(scope, list) or not all(isinstance(s, str) for s in scope):
        raise InvalidIntegration("'auth.config.scope' must be a list of strings.")


def _only(obj: dict[str, Any], allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise InvalidIntegration(f"Unknown field '{prefix}{unknown[0]}'.")


def _string_map(value: Any, field: str, *, templates: bool) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidIntegration(f"'{field}' must be an object of string values.")
    if templates:
        for text in value.values():
            _placeholders(text, field, _PLACEHOLDER_SCOPES)


def _placeholders(text: str, field: str, scopes: frozenset[str]) -> None:
    for scope, _name in PLACEHOLDER.findall(text):
        if scope not in scopes:
            raise InvalidIntegration(f"'{field}' uses an unknown placeholder scope '{scope}'.")
    if "${" in PLACEHOLDER.sub("", text):
        raise InvalidIntegration(f"'{field}' has a malformed placeholder.")


def _url(value: Any, field: str, allow_http_loopback: bool, *, placeholders: bool) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidIntegration(f"'{field}' must be a URL.")
    if placeholders:
        _placeholders(value, field, _URL_PLACEHOLDER_SCOPES)
        value = PLACEHOLDER.sub("x", value)
    elif "${" in value:
        raise InvalidIntegration(f"'{field}' cannot use placeholders.")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as e:
        raise InvalidIntegration(f"'{field}' is not a valid URL.") from e
    if not parts.hostname:
        raise InvalidIntegration(f"'{field}' must be an absolute URL.")
    # The same rules as the outbound guard, on what is known before resolving: literal addresses.
    if not outbound.host_allowed(parts.hostname, allow_loopback=allow_http_loopback):
        raise InvalidIntegration(
            f"'{field}' names an address Keyport does not call (private, loopback, link-local, shared or reserved)."
        )
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and allow_http_loopback and is_loopback(parts.hostname):
        return
    raise InvalidIntegration(f"'{field}' must be an https URL (plain http is allowed only for loopback hosts locally).")


def is_loopback(host: str) -> bool:
    """Whether a host name is the loopback interface."""
    return outbound.is_loopback_host(host)
