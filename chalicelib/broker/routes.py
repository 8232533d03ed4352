"""Routes of the credential broker: operators' customers and instances, the customer API, the runtime fetch.

Views parse, authenticate, call one rule and answer. The rules (``admin``, ``connections``,
``runtime``; for request bodies, the pydantic models) are imported inside the views, so importing the
app stays small.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from chalice.app import Response

from chalicelib.http import (
    bearer_token,
    empty_response,
    int_query,
    json_object,
    json_response,
    query,
    query_dict,
)
from chalicelib.operators import require_secret_key
from chalicelib.services import blueprint

bp = blueprint(__name__)

PAGE_DEFAULT, PAGE_MAX = 25, 100
CUSTOMERS = "/admin/customers"
CUSTOMER = CUSTOMERS + "/{customer_id}"
INSTANCES = CUSTOMER + "/instances"
INSTANCE = INSTANCES + "/{instance_id}"
CONNECTIONS = "/v1/customers/{customer_id}/connections"
CONNECTION = CONNECTIONS + "/{connection_id}"
NO_STORE = {"Cache-Control": "no-store"}


# --- operators ----------------------------------------------------------------------------------------


def _operator() -> ModuleType:
    """Check the operator secret key; the operators' rules, imported on first use (cold start)."""
    require_secret_key(bp.current_request)
    from chalicelib.broker import admin

    return admin


def _page() -> tuple[int, str | None]:
    request = bp.current_request
    return int_query(request, "limit", PAGE_DEFAULT, minimum=1, maximum=PAGE_MAX), query(request, "cursor")


@bp.route(CUSTOMERS, methods=["POST"])
def create_customer() -> Response:
    service = _operator()
    return json_response(service.create_customer(json_object(bp.current_request)), 201, NO_STORE)


@bp.route(CUSTOMERS, methods=["GET"])
def list_customers() -> Response:
    service = _operator()
    return json_response(service.list_customers(*_page()))


@bp.route(CUSTOMER, methods=["GET"])
def get_customer(customer_id: str) -> Response:
    service = _operator()
    return json_response(service.get_customer(customer_id))


@bp.route(CUSTOMER, methods=["DELETE"])
def delete_customer(customer_id: str) -> Response:
    service = _operator()
    service.delete_customer(customer_id)
    return empty_response()


@bp.route(CUSTOMER + "/rotate-key", methods=["POST"], content_types=["*/*"])
def rotate_customer_key(customer_id: str) -> Response:
    service = _operator()
    return json_response(service.rotate_customer_key(customer_id), headers=NO_STORE)


@bp.route(INSTANCES, methods=["POST"])
def create_instance(customer_id: str) -> Response:
    service = _operator()
    return json_response(service.create_instance(customer_id, json_object(bp.current_request)), 201, NO_STORE)


@bp.route(INSTANCES, methods=["GET"])
def list_instances(customer_id: str) -> Response:
    service = _operator()
    return json_response(service.list_instances(customer_id, *_page()))


@bp.route(INSTANCE, methods=["GET"])
def get_instance(customer_id: str, instance_id: str) -> Response:
    service = _operator()
    return json_response(service.get_instance(customer_id, instance_id))


@bp.route(INSTANCE, methods=["DELETE"])
def delete_instance(customer_id: str, instance_id: str) -> Response:
    service = _operator()
    service.delete_instance(customer_id, instance_id)
    return empty_response()


@bp.route(INSTANCE + "/rotate-key", methods=["POST"], content_types=["*/*"])
def rotate_instance_key(customer_id: str, instance_id: str) -> Response:
    service = _operator()
    return json_response(service.rotate_instance_key(customer_id, instance_id), headers=NO_STORE)


# --- customer API -------------------------------------------------------------------------------------


def _customer(**path: str) -> tuple[ModuleType, Any, dict[str, str]]:
    """Check the path ids (422) and the customer's API key (401/403); the customer API's rules, customer and ids."""
    from chalicelib.broker import connections, service  # imported on first use (cold start)

    request = bp.current_request
    ids = service.path_ids(**path)
    api_key = bearer_token(request) or request.headers.get("x-api-key") or None
    return connections, connections.authenticate_customer(ids["customer_id"], api_key), ids


def _body() -> Any:
    """The JSON body, read as FastAPI reads it (malformed JSON: 422 before anything else)."""
    from chalicelib.broker import schemas  # pydantic, on first use (cold start)

    return schemas.json_body(bp.current_request)


@bp.route(CONNECTIONS, methods=["GET"])
def list_connections(customer_id: str) -> Response:
    service, customer, _ = _customer(customer_id=customer_id)
    return json_response(service.list_connections(customer))


@bp.route(CONNECTIONS, methods=["POST"], content_types=["*/*"])
def create_connection(customer_id: str) -> Response:
    body = _body()
    service, customer, _ = _customer(customer_id=customer_id)
    return json_response(service.create_connection(customer, body), 201)


@bp.route(CONNECTION, methods=["DELETE"])
def delete_connection(customer_id: str, connection_id: str) -> Response:
    service, customer, ids = _customer(customer_id=customer_id, connection_id=connection_id)
    service.delete_connection(customer, ids["connection_id"])
    return empty_response()


@bp.route(CONNECTION + "/grants", methods=["POST"], content_types=["*/*"])
def create_grant(customer_id: str, connection_id: str) -> Response:
    body = _body()
    service, customer, ids = _customer(customer_id=customer_id, connection_id=connection_id)
    return json_response(service.create_grant(customer, ids["connection_id"], body), 201)


@bp.route(CONNECTION + "/grants/{grant_id}", methods=["DELETE"])
def delete_grant(customer_id: str, connection_id: str, grant_id: str) -> Response:
    service, customer, ids = _customer(customer_id=customer_id, connection_id=connection_id, grant_id=grant_id)
    service.delete_grant(customer, ids["connection_id"], ids["grant_id"])
    return empty_response()


@bp.route(CONNECTION + "/audit", methods=["GET"])
def connection_audit(customer_id: str, connection_id: str) -> Response:
    service, customer, ids = _customer(customer_id=customer_id, connection_id=connection_id)
    return json_response(service.connection_audit(customer, ids["connection_id"], query_dict(bp.current_request)))


# --- runtime ------------------------------------------------------------------------------------------


@bp.route("/internal/v1/instances/{instance_id}/connections", methods=["GET"])
def fetch_credentials(instance_id: str) -> Response:
    from chalicelib.broker import runtime  # on first use (cold start)

    request = bp.current_request
    answer = runtime.fetch(instance_id, bearer_token(request), query_dict(request))
    return json_response(answer, headers=NO_STORE)
