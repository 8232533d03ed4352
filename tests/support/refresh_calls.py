"""What the refresh-on-request tests (tests/functional/integrations/refresh/) set up: the local provider
registered with a configuration and an authentication, and the coalescing window changed for a block."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.pizzly import PizzlyApi, custom_integration

CLIENT_ID = "local-client-id-0123"
CLIENT_SECRET = "local-client-secret-abcdef"
PAYLOAD = {"accessToken": "access-0", "refreshToken": "refresh-0", "expiresIn": 3600}
BASE = "/api/local-provider/authentications"


@contextmanager
def coalescing_window(seconds: str) -> Iterator[None]:
    """REFRESH_COALESCE_SECONDS set to ``seconds`` inside the block (settings read outside any request)."""
    from chalicelib.settings import clear_settings, get_settings

    before = os.environ.get("REFRESH_COALESCE_SECONDS")
    os.environ["REFRESH_COALESCE_SECONDS"] = seconds
    clear_settings()
    get_settings()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("REFRESH_COALESCE_SECONDS", None)
        else:
            os.environ["REFRESH_COALESCE_SECONDS"] = before
        clear_settings()
        get_settings()


def connect(api: PizzlyApi, token_url: str, payload: dict[str, Any] | None = None, **auth: Any) -> tuple[str, str]:
    """Register the local provider (``auth`` merged into its definition), a configuration and an authentication."""
    put = api.put("/api/local-provider", custom_integration(token_url, **auth))
    assert put.status in (200, 201), put.body
    setup_id = api.configuration("local-provider", client_id=CLIENT_ID, secret=CLIENT_SECRET)["id"]
    auth_id = api.authentication("local-provider", setup_id, payload or PAYLOAD)["id"]
    return setup_id, auth_id
