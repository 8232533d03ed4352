"""The credential broker's contracts: its answers as models, and one operation per route.

Request bodies are the models of ``chalicelib/broker/schemas.py``, which also validate them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel

from chalicelib.broker.schemas import AuditQuery, BrokerConnectionCreate, BrokerGrantCreate
from chalicelib.contracts import (
    CursorPage,
    ErrorBody,
    Operation,
    Response,
    Security,
    cursor_paging,
    parameter,
    query_parameters,
)

TAG = {
    "name": "broker",
    "description": "Credential broker: customers and instances (operators), connections and grants (customers), "
    "runtime credential fetch (instances).",
}
SECRET: Security = [{"secretKey": []}]
CUSTOMER: Security = [{"customerKey": []}, {"customerApiKey": []}]
PROXY: Security = [{"proxyKey": []}]
Responses = dict[str, Response | tuple[str, Any]]

# --- errors -----------------------------------------------------------------------------------------


class BrokerOperatorError(ErrorBody):
    """The operators' routes answer in the operators' error body."""


class BrokerDetail(BaseModel):
    detail: str


class BrokerValidationError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class BrokerHTTPValidationError(BaseModel):
    detail: list[BrokerValidationError] = []


class BrokerError(RootModel[BrokerDetail | BrokerHTTPValidationError]):
    """Every broker error: field errors for a validation failure, one message otherwise."""


# --- answers ----------------------------------------------------------------------------------------


class BrokerNameInput(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=255, pattern=r"\S")]


class BrokerCustomer(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime


class BrokerCustomerWithKey(BrokerCustomer):
    api_key: Annotated[str, Field(description="Shown once")]


class BrokerCustomerList(CursorPage[BrokerCustomer]):
    """A page of customers, newest first."""


class BrokerInstance(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    name: str
    created_at: datetime


class BrokerInstanceWithKey(BrokerInstance):
    proxy_key: Annotated[str, Field(description="Shown once")]


class BrokerInstanceList(CursorPage[BrokerInstance]):
    """A page of a customer's instances, newest first."""


class BrokerGrant(BaseModel):
    capabilities: list[str]
    connection_id: uuid.UUID
    granted_at: datetime
    id: uuid.UUID
    instance_id: uuid.UUID


class BrokerConnection(BaseModel):
    auth_type: str
    created_at: datetime
    customer_id: uuid.UUID
    error_message: str | None
    expires_at: datetime | None
    grants: list[BrokerGrant]
    id: uuid.UUID
    last_used_at: datetime | None
    name: str
    provider: str
    scopes: list[str]
    status: Literal["active", "error", "reconnect_required"]
    updated_at: datetime


class BrokerConnectionList(BaseModel):
    connections: list[BrokerConnection]
    total: int


class BrokerFetchedCredentials(BaseModel):
    credentials: dict[str, Any]
    capabilities: list[str]


Outcome = Literal[
    "granted", "refreshed", "missing_capability", "refresh_failed", "expired", "refresh_busy", "deleted", "error"
]


class BrokerAuditEntry(BaseModel):
    id: uuid.UUID
    at: datetime
    instance_id: uuid.UUID
    connection_id: uuid.UUID
    provider: str
    name: str | None = None
    capability: str | None = None
    outcome: Outcome
    status_code: int


class BrokerAuditList(BaseModel):
    entries: list[BrokerAuditEntry]
    next_cursor: str | None


class FetchQuery(BaseModel):
    """Query of GET /internal/v1/instances/{instance_id}/connections."""

    provider: Annotated[str, Field(description="Provider")]
    name: Annotated[str | None, Field(description="Name")] = None
    capability: Annotated[
        str | None,
        Field(description="Required capability (e.g. send_mail). If specified, 403 if grant doesn't include it."),
    ] = None


# --- operations -------------------------------------------------------------------------------------


def _uuid(name: str, description: str) -> dict[str, Any]:
    return parameter(name, "path", description, uuid.UUID)


_CUSTOMER_ID = _uuid("customer_id", "Customer Id")
_CONNECTION_ID = _uuid("connection_id", "Connection Id")
_GRANT_ID = _uuid("grant_id", "Grant Id")
_INSTANCE_ID = _uuid("instance_id", "Instance Id")
_PAGING = cursor_paging()
_OPERATOR_ERRORS: Responses = {
    "400": ("Invalid request", BrokerOperatorError),
    "401": ("Missing or invalid secret key", BrokerOperatorError),
    "404": ("Unknown customer or instance", BrokerOperatorError),
}
_CUSTOMER_ERRORS: Responses = {
    "401": ("No API key, or an unknown one", BrokerDetail),
    "403": ("The API key is another customer's", BrokerDetail),
    "422": ("Validation Error (field errors), or one message", BrokerError),
}
_NOT_FOUND = ("Unknown connection, grant or instance", BrokerDetail)
_CONFLICT = ("The instance already has a grant on this connection", BrokerDetail)
_CUSTOMERS = "/admin/customers"
_CUSTOMER = "/admin/customers/{customer_id}"
_INSTANCES = f"{_CUSTOMER}/instances"
_INSTANCE = f"{_INSTANCES}/{{instance_id}}"
_CONNECTIONS = "/v1/customers/{customer_id}/connections"
_CONNECTION = f"{_CONNECTIONS}/{{connection_id}}"


def _operator(method: str, path: str, summary: str, op_id: str, answer: tuple[str, str, Any], **more: Any) -> Operation:
    status, text, body = answer
    ids = [_CUSTOMER_ID, _INSTANCE_ID][: path.count("{")]
    responses: Responses = {status: (text, body), **_OPERATOR_ERRORS}
    return Operation(method, path, summary, op_id, "broker", SECRET, responses, path_parameters=ids, **more)


def _customer(
    method: str, path: str, summary: str, op_id: str, answer: tuple[str, Any], *more: str, **rest: Any
) -> Operation:
    ids = [_CUSTOMER_ID, _CONNECTION_ID, _GRANT_ID][: path.count("{")]
    responses: Responses = {answer[0]: ("Successful Response", answer[1]), **_CUSTOMER_ERRORS}
    responses.update({status: {"404": _NOT_FOUND, "409": _CONFLICT}[status] for status in more})
    return Operation(method, path, summary, op_id, "broker", CUSTOMER, responses, path_parameters=ids, **rest)


OPERATIONS = [
    _operator("get", _CUSTOMERS, "List customers, newest first", "listBrokerCustomers",
              ("200", "A page of customers", BrokerCustomerList), parameters=_PAGING),
    _operator("post", _CUSTOMERS, "Create a customer and its API key (shown once)", "createBrokerCustomer",
              ("201", "Created", BrokerCustomerWithKey), body=BrokerNameInput),
    _operator("get", _CUSTOMER, "Retrieve a customer", "getBrokerCustomer", ("200", "The customer", BrokerCustomer)),
    _operator("delete", _CUSTOMER, "Delete a customer with its connections, grants, instances and audit trail",
              "deleteBrokerCustomer", ("204", "Deleted", None)),
    _operator("post", f"{_CUSTOMER}/rotate-key", "Replace the customer's API key (the old one stops working at once)",
              "rotateBrokerCustomerKey", ("200", "The new key, shown once", BrokerCustomerWithKey)),
    _operator("get", _INSTANCES, "List a customer's instances, newest first", "listBrokerInstances",
              ("200", "A page of instances", BrokerInstanceList), parameters=_PAGING),
    _operator("post", _INSTANCES, "Create an instance and its proxy key (shown once)", "createBrokerInstance",
              ("201", "Created", BrokerInstanceWithKey), body=BrokerNameInput),
    _operator("get", _INSTANCE, "Retrieve an instance", "getBrokerInstance", ("200", "The instance", BrokerInstance)),
    _operator("delete", _INSTANCE, "Delete an instance and every grant made to it", "deleteBrokerInstance",
              ("204", "Deleted", None)),
    _operator("post", f"{_INSTANCE}/rotate-key", "Replace the instance's proxy key (the old one stops working at once)",
              "rotateBrokerInstanceKey", ("200", "The new key, shown once", BrokerInstanceWithKey)),
    _customer("get", _CONNECTIONS, "List Connections", "listConnections", ("200", BrokerConnectionList)),
    _customer("post", _CONNECTIONS, "Create Connection", "createConnection", ("201", BrokerConnection),
              body=BrokerConnectionCreate),
    _customer("delete", _CONNECTION, "Delete Connection (and its grants)", "deleteConnection", ("204", None), "404"),
    _customer("post", f"{_CONNECTION}/grants", "Create Grant (one per connection and instance: a second answers 409)",
              "createGrant", ("201", BrokerGrant), "404", "409", body=BrokerGrantCreate),
    _customer("delete", f"{_CONNECTION}/grants/{{grant_id}}", "Delete Grant", "deleteGrant", ("204", None), "404"),
    _customer("get", f"{_CONNECTION}/audit", "Connection audit trail: every runtime fetch, newest first",
              "listConnectionAudit", ("200", BrokerAuditList), "404", parameters=query_parameters(AuditQuery)),
    Operation(
        "get", "/internal/v1/instances/{instance_id}/connections", "Fetch Connection Credentials",
        "fetchConnectionCredentials", "broker", PROXY,
        {
            "200": ("Successful Response", BrokerFetchedCredentials),
            "401": ("No proxy key, or not this instance's", BrokerDetail),
            "403": ("The grant does not include the capability", BrokerDetail),
            "404": ("No granted connection of this provider (and name)", BrokerDetail),
            "409": ("Several granted connections match; pass name", BrokerDetail),
            "422": ("Validation Error (field errors), or one message", BrokerError),
            "502": ("The credentials expired and could not be refreshed", BrokerDetail),
        },
        path_parameters=[_INSTANCE_ID],
        parameters=query_parameters(FetchQuery),
    ),
]  # fmt: skip
