"""Rules of the integrations REST API: integrations, configurations and authentications."""

from __future__ import annotations

import uuid
from typing import Any

from chalicelib import activity, catalog
from chalicelib.crypto import open_json, seal_json
from chalicelib.errors import BadRequest, NotFound
from chalicelib.http import iso_ms, now_ms
from chalicelib.integrations import repository
from chalicelib.integrations.models import Authentication
from chalicelib.integrations.params import check_destinations, validate_params
from chalicelib.integrations.payload import open_payload, set_payload
from chalicelib.integrations.refresh_store import AuthenticationStore
from chalicelib.oauth import providers
from chalicelib.oauth import refresh as refreshing
from chalicelib.oauth.models import Configuration
from chalicelib.oauth.providers import CONFIGURATION_PURPOSE
from chalicelib.settings import get_settings

_ID_MAX = 128


class UnknownConfiguration(NotFound):
    code = "unknown_configuration"
    default_message = "No configuration has this id for this integration."


class UnknownAuthentication(NotFound):
    code = "unknown_authentication"
    default_message = "No authentication has this id for this integration."


class InvalidCredentials(BadRequest):
    code = "invalid_credentials"


class InvalidScopes(BadRequest):
    code = "invalid_scopes"
    default_message = "'scopes' must be a list of strings."


class MissingSetupId(BadRequest):
    code = "missing_setup_id"
    default_message = "'setup_id' is required: the id of the configuration this authentication was made with."


class MissingPayload(BadRequest):
    code = "missing_oauth_payload"
    default_message = "'payload' is required."


class InvalidPayload(BadRequest):
    code = "invalid_oauth_payload"


class BuiltinIntegration(BadRequest):
    code = "builtin_integration"
    default_message = "Built-in integrations cannot be removed; PUT a definition to replace one."


# --- integrations ---------------------------------------------------------------------------------


def integration_view(integration_id: str, definition: dict[str, Any], source: str) -> dict[str, Any]:
    """An integration as the API shows it."""
    return {"object": "integration", "id": integration_id, **definition, "source": source}


def get_integration(integration_id: str) -> dict[str, Any]:
    """GET /api/{integration}."""
    return integration_view(integration_id, *catalog.lookup(integration_id))


def put_integration(integration_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """PUT /api/{integration}: add or replace a custom integration; True when created."""
    if not catalog.valid_id(integration_id):
        raise catalog.InvalidIntegration(
            "An integration id is 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit."
        )
    definition = catalog.validate(body, allow_http_loopback=get_settings().allow_http_loopback)
    created = repository.put_custom_integration(integration_id, definition, now_ms())
    created = created and catalog.builtin(integration_id) is None  # replacing a built-in is an update
    catalog.forget_custom(integration_id)
    return integration_view(integration_id, definition, "custom"), created


def delete_integration(integration_id: str) -> None:
    """DELETE /api/{integration}: remove a custom integration (a built-in one it replaced comes back)."""
    if not catalog.valid_id(integration_id):
        raise catalog.UnknownIntegration()
    if repository.delete_custom_integration(integration_id):
        catalog.forget_custom(integration_id)
        return
    if catalog.builtin(integration_id) is not None:
        raise BuiltinIntegration()
    raise catalog.UnknownIntegration(f"No integration has the id '{integration_id}'.")


def list_integrations() -> list[dict[str, Any]]:
    """The whole catalog, built-in and custom, by id, each with how many configurations it has."""
    counts = repository.configuration_counts()
    custom = {item.id: item.definition for item in repository.list_custom_integrations()}
    listed = []
    for integration_id in sorted(set(catalog.builtin_ids()) | set(custom)):
        definition = custom.get(integration_id) or catalog.builtin(integration_id) or {}
        view = integration_view(integration_id, definition, "custom" if integration_id in custom else "builtin")
        listed.append({**view, "configurations": counts.get(integration_id, 0)})
    return listed


# --- configurations -------------------------------------------------------------------------------


def _credentials(definition: dict[str, Any], body: dict[str, Any]) -> dict[str, str]:
    credentials = body.get("credentials")
    if catalog.auth_type(definition) == catalog.OAUTH1:
        names = ("consumerKey", "consumerSecret")
    else:
        names = ("clientId", "clientSecret")
    if not isinstance(credentials, dict):
        raise InvalidCredentials(f"'credentials' must be an object with '{names[0]}' and '{names[1]}'.")
    clean: dict[str, str] = {}
    for name in names:
        value = credentials.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > 4096:
            raise InvalidCredentials(f"'credentials.{name}' must be a non-empty string.")
        clean[name] = value.strip()
    return clean


def _scopes(body: dict[str, Any]) -> list[str]:
    scopes = body.get("scopes", [])
    if scopes is None:
        return []
    if not isinstance(scopes, list) or not all(isinstance(s, str) and s.strip() and len(s) <= 512 for s in scopes):
        raise InvalidScopes()
    if len(scopes) > 200:
        raise InvalidScopes("'scopes' can hold at most 200 scopes.")
    return list(dict.fromkeys(s.strip() for s in scopes))


def mask(value: str) -> str:
    """A secret as shown in responses: its first four characters, then one '*' per other character.

    Values of fewer than 12 characters are masked entirely, so the shown part never tells most of one.
    """
    if len(value) < 12:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 4)


def configuration_view(configuration: Configuration) -> dict[str, Any]:
    """A configuration as the API shows it, credentials masked."""
    credentials = open_json(configuration.credentials, purpose=CONFIGURATION_PURPOSE, record=configuration.id)
    return {
        "object": "configuration",
        "id": configuration.id,
        "integration": configuration.integration,
        "scopes": list(configuration.scopes or []),
        "credentials": {name: mask(value) for name, value in credentials.items()},
        "created_at": iso_ms(configuration.created_at),
        "updated_at": iso_ms(configuration.updated_at),
    }


def configuration_of(integration_id: str, setup_id: str) -> Configuration:
    configuration = providers.configuration(setup_id) if _plausible_id(setup_id) else None
    if configuration is None or configuration.integration != integration_id:
        catalog.get(integration_id)
        raise UnknownConfiguration(f"No configuration '{setup_id[:_ID_MAX]}' exists for '{integration_id}'.")
    return configuration


def create_configuration(integration_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/{integration}/configurations."""
    definition = catalog.get(integration_id)
    credentials = _credentials(definition, body)
    scopes = _scopes(body)
    setup_id = str(uuid.uuid4())
    now = now_ms()
    configuration = Configuration(
        setup_id,
        integration=integration_id,
        created_at=now,
        updated_at=now,
        scopes=scopes,
        credentials=seal_json(credentials, purpose=CONFIGURATION_PURPOSE, record=setup_id),
    )
    repository.save_configuration(configuration)
    return configuration_view(configuration)


def get_configuration(integration_id: str, setup_id: str) -> dict[str, Any]:
    """GET /api/{integration}/configurations/{setupId}."""
    return configuration_view(configuration_of(integration_id, setup_id))


def list_configurations(integration_id: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """GET /api/{integration}/configurations."""
    catalog.get(integration_id)
    items, next_cursor = repository.list_configurations(integration_id, limit, cursor)
    return _list([configuration_view(c) for c in items], next_cursor)


def update_configuration(integration_id: str, setup_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """PUT /api/{integration}/configurations/{setupId}: replaces credentials and scopes."""
    definition = catalog.get(integration_id)
    configuration = configuration_of(integration_id, setup_id)
    credentials = _unmasked(_credentials(definition, body), configuration)
    configuration.scopes = _scopes(body)  # type: ignore[assignment]
    configuration.credentials = seal_json(credentials, purpose=CONFIGURATION_PURPOSE, record=setup_id)
    configuration.updated_at = now_ms()
    repository.save_configuration(configuration)
    return configuration_view(configuration)


def delete_configuration(integration_id: str, setup_id: str) -> None:
    """DELETE /api/{integration}/configurations/{setupId}, and the authentications made with it."""
    repository.delete_configuration(configuration_of(integration_id, setup_id))


def count_authentications(integration_id: str, setup_id: str) -> int:
    """How many authentications go with a configuration (what deleting it removes)."""
    return repository.count_authentications(configuration_of(integration_id, setup_id).id)


def _unmasked(given: dict[str, str], configuration: Configuration) -> dict[str, str]:
    """Credentials to store on update: a value sent back exactly as we masked it keeps the stored one."""
    stored = open_json(configuration.credentials, purpose=CONFIGURATION_PURPOSE, record=configuration.id)
    return {
        name: stored[name] if name in stored and value == mask(stored[name]) else value for name, value in given.items()
    }


# --- authentications ------------------------------------------------------------------------------


def _payload(definition: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    if "payload" not in body or body["payload"] is None:
        raise MissingPayload()
    payload = body["payload"]
    if not isinstance(payload, dict):
        raise InvalidPayload("'payload' must be an object.")
    required = (
        ("oAuthToken", "oAuthTokenSecret") if catalog.auth_type(definition) == catalog.OAUTH1 else ("accessToken",)
    )
    for name in required:
        if not isinstance(payload.get(name), str) or not payload[name]:
            raise InvalidPayload(f"'payload.{name}' must be a non-empty string.")
    for name in ("refreshToken", "idToken", "tokenType"):
        if name in payload and payload[name] is not None and not isinstance(payload[name], str):
            raise InvalidPayload(f"'payload.{name}' must be a string.")
    expires_in = payload.get("expiresIn")
    if expires_in is not None and (not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0):
        raise InvalidPayload("'payload.expiresIn' must be a positive number of seconds.")
    return {k: v for k, v in payload.items() if k != "updatedAt"}


def _plausible_id(value: str) -> bool:
    return 0 < len(value) <= _ID_MAX


def _connect_params(body: dict[str, Any], definition: dict[str, Any]) -> dict[str, str] | None:
    """Imported connect parameters, held to the connect flow's rules and the outbound guard's."""
    params = body.get("connect_params")
    if params is None:
        return None
    if not isinstance(params, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in params.items()):
        raise BadRequest("'connect_params' must be an object of string values.", code="invalid_connect_params")
    checked = validate_params(params)
    check_destinations(definition, checked)
    return checked


def authentication_view(item: Authentication) -> dict[str, Any]:
    """An authentication as the API shows it: the full payload, for the secret-key holder."""
    payload = open_payload(item)
    return {
        "object": "authentication",
        "id": item.id,
        "integration": item.integration,
        "setup_id": item.setup_id,
        "payload": payload,
        "connect_params": item.connect_params or {},
        "expires_at": iso_ms(item.expires_at),
        "refresh": {
            "needs_reconnect": bool(item.needs_reconnect),
            "attempts": int(item.refresh_attempts or 0),
            "last_error": item.refresh_error,
            "next_attempt_at": iso_ms(item.next_attempt_at),
        },
        "created_at": iso_ms(item.created_at),
        "updated_at": iso_ms(item.updated_at),
    }


def _authentication(integration_id: str, auth_id: str, *, consistent: bool = False) -> Authentication:
    item = repository.get_authentication(auth_id, consistent=consistent) if _plausible_id(auth_id) else None
    if item is None or item.integration != integration_id:
        catalog.get(integration_id)
        raise UnknownAuthentication(f"No authentication '{auth_id[:_ID_MAX]}' exists for '{integration_id}'.")
    return item


def create_authentication(integration_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/{integration}/authentications: import a payload obtained elsewhere."""
    definition = catalog.get(integration_id)
    setup_id = body.get("setup_id")
    if setup_id is None or setup_id == "":
        raise MissingSetupId()
    if not isinstance(setup_id, str):
        raise MissingSetupId("'setup_id' must be a string.")
    configuration_of(integration_id, setup_id)
    payload = _payload(definition, body)
    auth_id = body.get("auth_id", body.get("id"))
    if auth_id is None:
        auth_id = str(uuid.uuid4())
    if not isinstance(auth_id, str) or (not catalog.ID_PATTERN.match(auth_id.lower()) and not uuid_like(auth_id)):
        raise BadRequest("'auth_id' must be a UUID or an id of letters, digits, '-' and '_'.", code="invalid_auth_id")
    now = now_ms()
    params = _connect_params(body, definition)
    item = Authentication(auth_id, integration=integration_id, setup_id=setup_id, created_at=now, connect_params=params)
    set_payload(item, definition, payload, now)
    repository.create_authentication(item)
    activity.record("authentication.created", "api", f"{integration_id}/{auth_id}", at=now)
    return authentication_view(item)


def uuid_like(value: str) -> bool:
    """Whether ``value`` is a UUID in its canonical form (no braces, no URN)."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def get_authentication(integration_id: str, auth_id: str) -> dict[str, Any]:
    """GET /api/{integration}/authentications/{authId}: one DynamoDB read when warm."""
    return authentication_view(_authentication(integration_id, auth_id))


def list_authentications(integration_id: str, setup_id: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
    """GET /api/{integration}/authentications, newest first."""
    catalog.get(integration_id)
    items, next_cursor = repository.list_authentications(integration_id, setup_id, limit, cursor)
    return _list([authentication_view(a) for a in items], next_cursor)


def update_authentication(integration_id: str, auth_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """PUT /api/{integration}/authentications/{authId}: replace the payload (and setup or params)."""
    definition = catalog.get(integration_id)
    item = _authentication(integration_id, auth_id, consistent=True)
    if "setup_id" in body and body["setup_id"] != item.setup_id:
        if not isinstance(body["setup_id"], str) or not body["setup_id"]:
            raise MissingSetupId("'setup_id' must be a configuration id.")
        configuration_of(integration_id, body["setup_id"])
        item.setup_id = body["setup_id"]
    if "connect_params" in body:
        item.connect_params = _connect_params(body, definition)
    set_payload(item, definition, _payload(definition, body), now_ms())
    item.lease_id = None
    item.lease_until = None
    repository.save_authentication(item)
    return authentication_view(item)


def delete_authentication(integration_id: str, auth_id: str) -> None:
    """DELETE /api/{integration}/authentications/{authId}."""
    repository.delete_authentication(_authentication(integration_id, auth_id))


def refresh_authentication(integration_id: str, auth_id: str) -> dict[str, Any]:
    """POST|GET .../authentications/{authId}/refresh: refresh now, exactly once among concurrent callers."""
    item = _authentication(integration_id, auth_id, consistent=True)
    if catalog.auth_type(catalog.get(integration_id)) != catalog.OAUTH2:
        raise refreshing.RefreshMissing("OAuth 1.0a tokens do not expire and cannot be refreshed.")
    held = refreshing.refresh(AuthenticationStore(), auth_id, force=True, seen_updated_at=int(item.updated_at))
    return authentication_view(held.record)


def _list(data: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": next_cursor is not None, "next_cursor": next_cursor}
