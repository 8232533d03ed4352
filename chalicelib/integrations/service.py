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
from chalicelib.integrations.params import InvalidConnectParams, check_destinations
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


#: The error class of each code a body's rule answers with (the dashboard's forms catch some by class).
_REFUSALS: dict[str, type[BadRequest]] = {
    "invalid_credentials": InvalidCredentials,
    "invalid_scopes": InvalidScopes,
    "missing_setup_id": MissingSetupId,
    "missing_oauth_payload": MissingPayload,
    "invalid_oauth_payload": InvalidPayload,
    "invalid_connect_params": InvalidConnectParams,
}


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


def _configuration_body(definition: dict[str, Any], body: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The credentials and scopes of a configuration's body (ConfigurationInput); 400 for the first rule broken."""
    from chalicelib.integrations.contracts import ConfigurationInput, read  # pydantic: with a body only (cold start)

    given, broken = read(ConfigurationInput, body, catalog.auth_type(definition))
    broken.check("credentials", "scopes", refuse=_REFUSALS)
    assert given is not None
    return given.credential_values(), given.scopes or []


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
    credentials, scopes = _configuration_body(definition, body)
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
    given, scopes = _configuration_body(definition, body)
    credentials = _unmasked(given, configuration)
    configuration.scopes = scopes  # type: ignore[assignment]
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


def _plausible_id(value: str) -> bool:
    return 0 < len(value) <= _ID_MAX


def _stored_payload(body: dict[str, Any]) -> dict[str, Any]:
    """The payload to store, once its model accepted it: the body's object as given, but for ``updatedAt``."""
    return {k: v for k, v in body["payload"].items() if k != "updatedAt"}


def _checked_params(body: dict[str, Any], definition: dict[str, Any]) -> dict[str, str] | None:
    """Imported connect parameters, once their model accepted them: the outbound guard's rules too."""
    params = body.get("connect_params")
    if params is None:
        return None
    check_destinations(definition, params)
    return dict(params)


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
    from chalicelib.integrations.contracts import AuthenticationInput, read  # pydantic: with a body only (cold start)

    definition = catalog.get(integration_id)
    given, broken = read(AuthenticationInput, body, catalog.auth_type(definition))
    broken.check("setup_id", refuse=_REFUSALS)
    setup_id: str = body["setup_id"]
    configuration_of(integration_id, setup_id)  # an unknown configuration's 404 comes before the other rules
    broken.check("payload", "auth_id", "connect_params", refuse=_REFUSALS)
    assert given is not None
    payload = _stored_payload(body)
    auth_id = given.auth_id if given.auth_id is not None else str(uuid.uuid4())
    now = now_ms()
    params = _checked_params(body, definition)
    item = Authentication(auth_id, integration=integration_id, setup_id=setup_id, created_at=now, connect_params=params)
    set_payload(item, definition, payload, now)
    repository.create_authentication(item)
    activity.record("authentication.created", "api", f"{integration_id}/{auth_id}", at=now)
    return authentication_view(item)


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
    from chalicelib.integrations.contracts import AuthenticationUpdate, read  # pydantic: with a body only (cold start)

    definition = catalog.get(integration_id)
    item = _authentication(integration_id, auth_id, consistent=True)
    broken = read(AuthenticationUpdate, body, catalog.auth_type(definition))[1]
    broken.check("setup_id", refuse=_REFUSALS)
    if "setup_id" in body and body["setup_id"] != item.setup_id:
        configuration_of(integration_id, body["setup_id"])
        item.setup_id = body["setup_id"]
    broken.check("connect_params", refuse=_REFUSALS)
    if "connect_params" in body:
        item.connect_params = _checked_params(body, definition)
    broken.check("payload", refuse=_REFUSALS)
    set_payload(item, definition, _stored_payload(body), now_ms())
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
