"""Keys, queries and conditions of the integrations service's tables (reads by id: ``oauth.providers``)."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.dynamo import translated
from chalicelib.http import decode_cursor, encode_cursor
from chalicelib.integrations.models import Authentication
from chalicelib.oauth.models import Configuration, CustomIntegration

_CURSOR_FIELDS = {"c": int, "i": str}


# --- custom integrations --------------------------------------------------------------------------


def put_custom_integration(integration_id: str, definition: dict[str, Any], now: int) -> bool:
    """Store a custom integration; True when it is new."""
    with translated():
        try:
            existing = CustomIntegration.get(integration_id)
            created_at = int(existing.created_at)
        except DoesNotExist:
            existing, created_at = None, now
        CustomIntegration(integration_id, definition=definition, created_at=created_at, updated_at=now).save()
    return existing is None


def delete_custom_integration(integration_id: str) -> bool:
    """Remove a custom integration; False when there was none."""
    with translated():
        try:
            CustomIntegration.get(integration_id).delete()
        except DoesNotExist:
            return False
    return True


def list_custom_integrations() -> list[CustomIntegration]:
    """Every custom integration, by id (one Query of the ``listed`` index)."""
    with translated():
        return list(CustomIntegration.all_listed.query("custom", page_size=500))


# --- configurations -------------------------------------------------------------------------------


def save_configuration(configuration: Configuration) -> None:
    """Write a configuration."""
    with translated():
        configuration.save()


def delete_configuration(configuration: Configuration) -> None:
    """Remove a configuration and every authentication made with it (children first)."""
    with translated():
        with Authentication.batch_write() as batch:
            for item in Authentication.by_setup.query(configuration.id, page_size=100):
                batch.delete(item)
        configuration.delete()


def list_configurations(integration: str, limit: int, cursor: str | None) -> tuple[list[Configuration], str | None]:
    """A page of an integration's configurations, newest first, and the cursor of the next page."""
    return _page(Configuration.by_integration, integration, limit, cursor)


def configuration_counts() -> dict[str, int]:
    """How many configurations each integration has, for integrations with at least one (``listed`` index)."""
    counts: dict[str, int] = {}
    with translated():
        for item in Configuration.all_listed.query("configuration", page_size=1000):
            counts[item.integration] = counts.get(item.integration, 0) + 1
    return counts


def count_authentications(setup_id: str) -> int:
    """How many authentications were made with one configuration (a COUNT Query of ``by_setup``)."""
    with translated():
        return int(Authentication.by_setup.count(setup_id))


# --- authentications ------------------------------------------------------------------------------


def get_authentication(auth_id: str, *, consistent: bool = False) -> Authentication | None:
    """One authentication by id, or None."""
    with translated():
        try:
            return Authentication.get(auth_id, consistent_read=consistent)
        except DoesNotExist:
            return None


def create_authentication(authentication: Authentication) -> None:
    """Write a new authentication; 409 when the id is taken."""
    with translated("An authentication with this id already exists."):
        authentication.save(condition=Authentication.id.does_not_exist())


def save_authentication(authentication: Authentication) -> None:
    """Overwrite an authentication."""
    with translated():
        authentication.save()


def delete_authentication(authentication: Authentication) -> None:
    """Remove an authentication."""
    with translated():
        authentication.delete()


def list_authentications(
    integration: str, setup_id: str | None, limit: int, cursor: str | None
) -> tuple[list[Authentication], str | None]:
    """A page of an integration's authentications (optionally of one configuration), newest first."""
    if setup_id is None:
        return _page(Authentication.by_integration, integration, limit, cursor)
    return _page(
        Authentication.by_setup,
        setup_id,
        limit,
        cursor,
        filter_condition=Authentication.integration == integration,
        hash_name="setup_id",
    )


def _page(
    index: Any,
    hash_value: str,
    limit: int,
    cursor: str | None,
    *,
    filter_condition: Any = None,
    hash_name: str = "integration",
) -> tuple[list[Any], str | None]:
    start = None
    if cursor:
        position = decode_cursor(cursor, _CURSOR_FIELDS)
        start = {
            "id": {"S": position["i"]},
            hash_name: {"S": hash_value},
            "created_at": {"N": str(position["c"])},
        }
    with translated():
        results = index.query(
            hash_value,
            scan_index_forward=False,
            limit=limit + 1,
            page_size=limit + 1,
            last_evaluated_key=start,
            filter_condition=filter_condition,
        )
        items = list(results)
    if len(items) <= limit:
        return items, None
    last = items[limit - 1]
    return items[:limit], encode_cursor({"c": int(last.created_at), "i": last.id})
