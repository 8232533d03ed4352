"""The entity store (the platform API): every ``/api/v1`` path that repo tags does not own.

Its blueprint carries the websocket's open and push functions and its sweep; the websocket handlers
themselves are on the app (``app.py``: a blueprint cannot carry them).
"""

from chalicelib.services import Service

SERVICE = Service(
    name="entities",
    prefixes=("/api/v1",),
    error_style="platform",
    error_schema="PlatformError",
    creates=("/api/v1/{store}", "/admin/platform/users", "/admin/platform/groups"),
)
