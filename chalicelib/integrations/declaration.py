"""The integrations service (Pizzly's API). It also answers, in Pizzly's error body, every path no other
service declares: ``/``, ``/openapi.json`` and the operators' ``/admin/…``."""

from chalicelib.services import Service

SERVICE = Service(
    name="integrations",
    prefixes=("/api", "/auth", "/proxy", "/"),
    error_style="pizzly",
    error_schema="PizzlyError",
    refresh_sources=("refresh_store",),
    creates=("/api/{integration}/configurations", "/api/{integration}/authentications"),
)
