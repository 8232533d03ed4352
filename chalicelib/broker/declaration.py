"""The credential broker: customers' connections and the instances' runtime fetch."""

from chalicelib.services import Service

SERVICE = Service(
    name="broker",
    prefixes=("/v1", "/internal/v1"),
    error_style="broker",
    error_schema="BrokerError",
    refresh_sources=("refresh_store",),
    creates=(
        "/admin/customers",
        "/admin/customers/{customer_id}/instances",
        "/v1/customers/{customer_id}/connections",
        "/v1/customers/{customer_id}/connections/{connection_id}/grants",
    ),
)
