"""The provider-credentials lookup: stored integration definitions and the client credentials to use.

Every kind of refreshable credential asks the same two questions of the provider side: what an
integration stored at run time says (:func:`custom_definition`, the catalog's source of custom
integrations), and which OAuth client to present to the token endpoint: a named configuration
(:func:`setup_client`) or an integration's most recent one (:func:`latest_client`). Request paths read
fresh; a sweep passes one :class:`SweepCache`, so it reads each configuration once however many
credentials it refreshes with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pynamodb.exceptions import DoesNotExist

from chalicelib.crypto import open_json
from chalicelib.dynamo import translated
from chalicelib.oauth.models import Configuration, CustomIntegration

CONFIGURATION_PURPOSE = "integrations/configuration"

_T = TypeVar("_T")


@dataclass(frozen=True)
class Client:
    """The OAuth client a configuration registers: for which integration, with which id and secret."""

    integration: str
    client_id: str
    client_secret: str


class SweepCache:
    """Answers of the lookup kept for the life of this object (one sweep), safe across its threads.

    A missing answer is loaded under a lock of its own key, so concurrent refreshes of one sweep read a
    configuration once, while a slow read (a throttled table) holds up neither the answers already cached
    nor the reads of other keys. Only a sweep makes one: a request reads what is stored now.
    """

    def __init__(self) -> None:
        self._values: dict[tuple[str, str], Any] = {}
        self._loading: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()  # guards _loading only

    def get(self, kind: str, key: str, load: Callable[[], _T]) -> _T:
        """The cached answer to ``(kind, key)``, loaded with ``load`` the first time."""
        entry = (kind, key)
        if entry not in self._values:
            with self._lock:
                loading = self._loading.setdefault(entry, threading.Lock())
            with loading:
                if entry not in self._values:
                    self._values[entry] = load()
        value: _T = self._values[entry]
        return value


def _cached(cache: SweepCache | None, kind: str, key: str, load: Callable[[], _T]) -> _T:
    return load() if cache is None else cache.get(kind, key, load)


def custom_definition(integration_id: str) -> dict[str, Any] | None:
    """The stored definition of a custom integration, or None."""
    with translated():
        try:
            item = CustomIntegration.get(integration_id)
        except DoesNotExist:
            return None
    definition: dict[str, Any] = item.definition
    return definition


def configuration(setup_id: str) -> Configuration | None:
    """One configuration by id, or None."""
    with translated():
        try:
            return Configuration.get(setup_id)
        except DoesNotExist:
            return None


def latest_configuration(integration: str) -> Configuration | None:
    """The integration's most recently created configuration, or None."""
    with translated():
        items = Configuration.by_integration.query(integration, scan_index_forward=False, limit=1, page_size=1)
        return next(iter(items), None)


def client_credentials(configuration: Configuration) -> tuple[str, str]:
    """The (client id, client secret) or (consumer key, consumer secret) of a configuration."""
    credentials = open_json(configuration.credentials, purpose=CONFIGURATION_PURPOSE, record=configuration.id)
    if "consumerKey" in credentials:
        return credentials["consumerKey"], credentials["consumerSecret"]
    return credentials["clientId"], credentials["clientSecret"]


def _client(configuration: Configuration | None) -> Client | None:
    if configuration is None:
        return None
    return Client(str(configuration.integration), *client_credentials(configuration))


def setup_client(setup_id: str, cache: SweepCache | None = None) -> Client | None:
    """The client of the configuration ``setup_id``, or None when it was deleted."""
    return _cached(cache, "setup", setup_id, lambda: _client(configuration(setup_id)))


def latest_client(integration: str, cache: SweepCache | None = None) -> Client | None:
    """The client of the integration's most recent configuration, or None when it has none."""
    return _cached(cache, "latest", integration, lambda: _client(latest_configuration(integration)))
