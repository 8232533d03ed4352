"""OpenAPI paths and schemas of the credential broker: operators, the customer API, the runtime fetch."""

from __future__ import annotations

from typing import Any

from chalicelib.openapi import operation, path_param, query_param, ref

TAG = {
    "name": "broker",
    "description": "Credential broker: customers and instances (operators), connections and grants (customers), "
    "runtime credential fetch (instances).",
}
_T = "broker"
SECRET: list[dict[str, list[str]]] = [{"secretKey": []}]
CUSTOMER: list[dict[str, list[str]]] = [{"customerKey": []}, {"customerApiKey": []}]
PROXY: list[dict[str, list[str]]] = [{"proxyKey": []}]

Responses = dict[str, tuple[str, dict[str, Any] | None]]


def _uuid(name: str, description: str) -> dict[str, Any]:
    return {**path_param(name, description), "schema": {"type": "string", "format": "uuid"}}


_CUSTOMER_ID = _uuid("customer_id", "Customer Id")
_CONNECTION_ID = _uuid("connection_id", "Connection Id")
_GRANT_ID = _uuid("grant_id", "Grant Id")
_INSTANCE_ID = _uuid("instance_id", "Instance Id")
_PAGING = [
    query_param("limit", "Page size (1-100, default 25)", {"type": "integer", "minimum": 1, "maximum": 100}),
    query_param("cursor", "next_cursor of the previous page"),
]

_OPERATOR_ERRORS: Responses = {
    "400": ("Invalid request", ref("BrokerOperatorError")),
    "401": ("Missing or invalid secret key", ref("BrokerOperatorError")),
    "404": ("Unknown customer or instance", ref("BrokerOperatorError")),
}
_CUSTOMER_ERRORS: Responses = {
    "401": ("No API key, or an unknown one", ref("BrokerDetail")),
    "403": ("The API key is another customer's", ref("BrokerDetail")),
    "422": ("Validation Error (field errors), or one message", ref("BrokerError")),
}


def _operator(status: str, text: str, schema: dict[str, Any] | None) -> Responses:
    return {status: (text, schema), **_OPERATOR_ERRORS}


def _customer(status: str, text: str, schema: dict[str, Any] | None, more: Responses | None = None) -> Responses:
    return {status: (text, schema), **_CUSTOMER_ERRORS, **(more or {})}


_NOT_FOUND = ("Unknown connection, grant or instance", ref("BrokerDetail"))
_CONFLICT = ("The instance already has a grant on this connection", ref("BrokerDetail"))

PATHS: dict[str, Any] = {
    "/admin/customers": {
        "get": operation(
            "List customers, newest first",
            "listBrokerCustomers",
            _T,
            _operator("200", "A page of customers", ref("BrokerCustomerList")),
            security=SECRET,
            parameters=_PAGING,
        ),
        "post": operation(
            "Create a customer and its API key (shown once)",
            "createBrokerCustomer",
            _T,
            _operator("201", "Created", ref("BrokerCustomerWithKey")),
            security=SECRET,
            body=ref("BrokerNameInput"),
        ),
    },
    "/admin/customers/{customer_id}": {
        "parameters": [_CUSTOMER_ID],
        "get": operation(
            "Retrieve a customer",
            "getBrokerCustomer",
            _T,
            _operator("200", "The customer", ref("BrokerCustomer")),
            security=SECRET,
        ),
        "delete": operation(
            "Delete a customer with its connections, grants, instances and audit trail",
            "deleteBrokerCustomer",
            _T,
            _operator("204", "Deleted", None),
            security=SECRET,
        ),
    },
    "/admin/customers/{customer_id}/rotate-key": {
        "parameters": [_CUSTOMER_ID],
        "post": operation(
            "Replace the customer's API key (the old one stops working at once)",
            "rotateBrokerCustomerKey",
            _T,
            _operator("200", "The new key, shown once", ref("BrokerCustomerWithKey")),
            security=SECRET,
        ),
    },
    "/admin/customers/{customer_id}/instances": {
        "parameters": [_CUSTOMER_ID],
        "get": operation(
            "List a customer's instances, newest first",
            "listBrokerInstances",
            _T,
            _operator("200", "A page of instances", ref("BrokerInstanceList")),
            security=SECRET,
            parameters=_PAGING,
        ),
        "post": operation(
            "Create an instance and its proxy key (shown once)",
            "createBrokerInstance",
            _T,
            _operator("201", "Created", ref("BrokerInstanceWithKey")),
            security=SECRET,
            body=ref("BrokerNameInput"),
        ),
    },
    "/admin/customers/{customer_id}/instances/{instance_id}": {
        "parameters": [_CUSTOMER_ID, _INSTANCE_ID],
        "get": operation(
            "Retrieve an instance",
            "getBrokerInstance",
            _T,
            _operator("200", "The instance", ref("BrokerInstance")),
            security=SECRET,
        ),
        "delete": operation(
            "Delete an instance and every grant made to it",
            "deleteBrokerInstance",
            _T,
            _operator("204", "Deleted", None),
            security=SECRET,
        ),
    },
    "/admin/customers/{customer_id}/instances/{instance_id}/rotate-key": {
        "parameters": [_CUSTOMER_ID, _INSTANCE_ID],
        "post": operation(
            "Replace the instance's proxy key (the old one stops working at once)",
            "rotateBrokerInstanceKey",
            _T,
            _operator("200", "The new key, shown once", ref("BrokerInstanceWithKey")),
            security=SECRET,
        ),
    },
    "/v1/customers/{customer_id}/connections": {
        "parameters": [_CUSTOMER_ID],
        "get": operation(
            "List Connections",
            "listConnections",
            _T,
            _customer("200", "Successful Response", ref("BrokerConnectionList")),
            security=CUSTOMER,
        ),
        "post": operation(
            "Create Connection",
            "createConnection",
            _T,
            _customer("201", "Successful Response", ref("BrokerConnection")),
            security=CUSTOMER,
            body=ref("BrokerConnectionCreate"),
        ),
    },
    "/v1/customers/{customer_id}/connections/{connection_id}": {
        "parameters": [_CUSTOMER_ID, _CONNECTION_ID],
        "delete": operation(
            "Delete Connection (and its grants)",
            "deleteConnection",
            _T,
            _customer("204", "Successful Response", None, {"404": _NOT_FOUND}),
            security=CUSTOMER,
        ),
    },
    "/v1/customers/{customer_id}/connections/{connection_id}/grants": {
        "parameters": [_CUSTOMER_ID, _CONNECTION_ID],
        "post": operation(
            "Create Grant (one per connection and instance: a second answers 409)",
            "createGrant",
            _T,
            _customer("201", "Successful Response", ref("BrokerGrant"), {"404": _NOT_FOUND, "409": _CONFLICT}),
            security=CUSTOMER,
            body=ref("BrokerGrantCreate"),
        ),
    },
    "/v1/customers/{customer_id}/connections/{connection_id}/grants/{grant_id}": {
        "parameters": [_CUSTOMER_ID, _CONNECTION_ID, _GRANT_ID],
        "delete": operation(
            "Delete Grant",
            "deleteGrant",
            _T,
            _customer("204", "Successful Response", None, {"404": _NOT_FOUND}),
            security=CUSTOMER,
        ),
    },
    "/v1/customers/{customer_id}/connections/{connection_id}/audit": {
        "parameters": [_CUSTOMER_ID, _CONNECTION_ID],
        "get": operation(
            "Connection audit trail: every runtime fetch, newest first",
            "listConnectionAudit",
            _T,
            _customer("200", "Successful Response", ref("BrokerAuditList"), {"404": _NOT_FOUND}),
            security=CUSTOMER,
            parameters=[
                query_param(
                    "limit", "Page size (1-200, default 50)", {"type": "integer", "minimum": 1, "maximum": 200}
                ),
                query_param("cursor", "next_cursor of the previous page"),
            ],
        ),
    },
    "/internal/v1/instances/{instance_id}/connections": {
        "parameters": [_INSTANCE_ID],
        "get": operation(
            "Fetch Connection Credentials",
            "fetchConnectionCredentials",
            _T,
            {
                "200": ("Successful Response", ref("BrokerFetchedCredentials")),
                "401": ("No proxy key, or not this instance's", ref("BrokerDetail")),
                "403": ("The grant does not include the capability", ref("BrokerDetail")),
                "404": ("No granted connection of this provider (and name)", ref("BrokerDetail")),
                "409": ("Several granted connections match; pass name", ref("BrokerDetail")),
                "422": ("Validation Error (field errors), or one message", ref("BrokerError")),
                "502": ("The credentials expired and could not be refreshed", ref("BrokerDetail")),
            },
            security=PROXY,
            parameters=[
                {**query_param("provider", "Provider"), "required": True},
                query_param("name", "Name"),
                query_param(
                    "capability", "Required capability (e.g. send_mail). If specified, 403 if grant doesn't include it."
                ),
            ],
        ),
    },
}

_TIMESTAMP = {"type": "string", "format": "date-time"}
_NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
_UUID_FIELD = {"type": "string", "format": "uuid"}


def _keyed(base: str, key: str) -> dict[str, Any]:
    return {
        "allOf": [
            ref(base),
            {"type": "object", "required": [key], "properties": {key: {"type": "string", "description": "Shown once"}}},
        ]
    }


def _page_of(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["object", "data", "has_more", "next_cursor"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": ref(item)},
            "has_more": {"type": "boolean"},
            "next_cursor": {"type": ["string", "null"]},
        },
    }


SCHEMAS: dict[str, Any] = {
    "BrokerOperatorError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "BrokerDetail": {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}},
    "BrokerError": {
        "description": "Every broker error: field errors for a validation failure, one message otherwise",
        "anyOf": [ref("BrokerDetail"), ref("BrokerHTTPValidationError")],
    },
    "BrokerValidationError": {
        "type": "object",
        "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"},
            "type": {"type": "string"},
        },
    },
    "BrokerHTTPValidationError": {
        "type": "object",
        "properties": {"detail": {"type": "array", "items": ref("BrokerValidationError")}},
    },
    "BrokerNameInput": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "\\S"}},
    },
    "BrokerCustomer": {
        "type": "object",
        "required": ["id", "name", "created_at"],
        "properties": {"id": _UUID_FIELD, "name": {"type": "string"}, "created_at": _TIMESTAMP},
    },
    "BrokerCustomerWithKey": _keyed("BrokerCustomer", "api_key"),
    "BrokerCustomerList": _page_of("BrokerCustomer"),
    "BrokerInstance": {
        "type": "object",
        "required": ["id", "customer_id", "name", "created_at"],
        "properties": {
            "id": _UUID_FIELD,
            "customer_id": _UUID_FIELD,
            "name": {"type": "string"},
            "created_at": _TIMESTAMP,
        },
    },
    "BrokerInstanceWithKey": _keyed("BrokerInstance", "proxy_key"),
    "BrokerInstanceList": _page_of("BrokerInstance"),
    "BrokerConnectionCreate": {
        "type": "object",
        "required": ["credentials", "name", "provider"],
        "properties": {
            "auth_type": {"enum": ["oauth2", "api_key", "basic"], "default": "oauth2"},
            "credentials": {
                "type": "object",
                "description": "Provider credentials (stored encrypted). api_key: api_key. basic: username, password. "
                "oauth2: access_token; refresh_token with client_id and client_secret (or a configuration of the "
                "provider's integration) to be refreshed; expires_in (seconds) or expires_at (ISO 8601 or epoch "
                "seconds).",
                "additionalProperties": True,
            },
            "metadata_json": {"type": ["object", "null"]},
            "name": {"type": "string", "maxLength": 255, "description": "admin@iqm.com.au, IQM Master Roster, etc."},
            "provider": {
                "type": "string",
                "maxLength": 50,
                "description": "gmail, xero, google_calendar, deputy, etc.",
            },
            "scopes": {"type": ["array", "null"], "items": {"type": "string"}},
        },
    },
    "BrokerGrant": {
        "type": "object",
        "required": ["capabilities", "connection_id", "granted_at", "id", "instance_id"],
        "properties": {
            "capabilities": {"type": "array", "items": {"type": "string"}},
            "connection_id": _UUID_FIELD,
            "granted_at": _TIMESTAMP,
            "id": _UUID_FIELD,
            "instance_id": _UUID_FIELD,
        },
    },
    "BrokerGrantCreate": {
        "type": "object",
        "required": ["capabilities", "instance_id"],
        "properties": {
            "capabilities": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Provider-specific capabilities (e.g. send_mail, read_events)",
            },
            "instance_id": _UUID_FIELD,
        },
    },
    "BrokerConnection": {
        "type": "object",
        "required": [
            "auth_type",
            "created_at",
            "customer_id",
            "error_message",
            "expires_at",
            "grants",
            "id",
            "last_used_at",
            "name",
            "provider",
            "scopes",
            "status",
            "updated_at",
        ],
        "properties": {
            "auth_type": {"type": "string"},
            "created_at": _TIMESTAMP,
            "customer_id": _UUID_FIELD,
            "error_message": {"type": ["string", "null"]},
            "expires_at": _NULLABLE_TIMESTAMP,
            "grants": {"type": "array", "items": ref("BrokerGrant")},
            "id": _UUID_FIELD,
            "last_used_at": _NULLABLE_TIMESTAMP,
            "name": {"type": "string"},
            "provider": {"type": "string"},
            "scopes": {"type": "array", "items": {"type": "string"}},
            "status": {"enum": ["active", "error", "reconnect_required"]},
            "updated_at": _TIMESTAMP,
        },
    },
    "BrokerConnectionList": {
        "type": "object",
        "required": ["connections", "total"],
        "properties": {
            "connections": {"type": "array", "items": ref("BrokerConnection")},
            "total": {"type": "integer"},
        },
    },
    "BrokerFetchedCredentials": {
        "type": "object",
        "required": ["credentials", "capabilities"],
        "properties": {
            "credentials": {"type": "object", "additionalProperties": True},
            "capabilities": {"type": "array", "items": {"type": "string"}},
        },
    },
    "BrokerAuditEntry": {
        "type": "object",
        "required": ["id", "at", "instance_id", "connection_id", "provider", "outcome", "status_code"],
        "properties": {
            "id": _UUID_FIELD,
            "at": _TIMESTAMP,
            "instance_id": _UUID_FIELD,
            "connection_id": _UUID_FIELD,
            "provider": {"type": "string"},
            "name": {"type": ["string", "null"]},
            "capability": {"type": ["string", "null"]},
            "outcome": {
                "enum": [
                    "granted",
                    "refreshed",
                    "missing_capability",
                    "refresh_failed",
                    "expired",
                    "refresh_busy",
                    "deleted",
                    "error",
                ]
            },
            "status_code": {"type": "integer"},
        },
    },
    "BrokerAuditList": {
        "type": "object",
        "required": ["entries", "next_cursor"],
        "properties": {
            "entries": {"type": "array", "items": ref("BrokerAuditEntry")},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
}
