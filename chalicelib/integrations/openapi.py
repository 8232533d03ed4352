"""The integrations API in the OpenAPI document, generated from its contracts (``integrations/contracts.py``).

The operations of the connect flow and the proxy are declared here: they take no body the service validates.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from chalicelib.contracts import Operation, Response, Security, document_part, parameter
from chalicelib.integrations.contracts import API_OPERATIONS, INTEGRATION, TAG, PizzlyError, Responses

__all__ = ["PATHS", "SCHEMAS", "TAG"]

# --- operations of the connect flow and the proxy ---------------------------------------------------

_PAGE = Annotated[str, Field(description="An HTML page")]
_CONNECT_PARAMS = [
    parameter("authId", "query", "Reconnect this authentication instead of creating one (also auth_id)"),
    parameter("setupId", "query", "Configuration to use; the latest one otherwise (also setup_id)"),
    {
        "name": "params",
        "in": "query",
        "style": "deepObject",
        "explode": True,
        "schema": {"type": "object", "additionalProperties": {"type": "string"}},
        "description": "params[name]=value fill ${connectParams.name} in the integration's URLs",
    },
]


def _page(text: str) -> Response:
    return Response(text, str, media_type="text/html")


def _page_or_error(text: str) -> Response:
    """A failure the connect flow shows as a page, or the middleware answers in JSON before the flow runs."""
    return Response(text, content={"text/html": str, "application/json": PizzlyError})


# Every connect step turns an error into a failure page with the error's status (routes._connect).
_CONNECT_FAILURES: Responses = {
    "403": _page("The provider's address is not an allowed destination (failure page)"),
    "404": _page("Unknown integration, or the flow's authentication or integration is gone (failure page)"),
    "500": _page_or_error("Unexpected error (failure page, or JSON when it happens outside the flow)"),
    "503": _page_or_error("DynamoDB, KMS or the provider unavailable, or out of time (failure page or JSON)"),
}
_CALLBACK_PARAMS = [
    parameter(name, "query", text)
    for name, text in (
        ("state", "The flow's single-use state"),
        ("code", "OAuth 2 authorization code"),
        ("error", "OAuth 2 error, e.g. access_denied"),
        ("oauth_token", "OAuth 1.0a request token"),
        ("oauth_verifier", "OAuth 1.0a verifier"),
    )
]
_PROXY_ERRORS: Responses = {
    "400": (
        "missing_auth_id; invalid_proxy_path (the path climbs out of the base URL's path: '..' in any "
        "encoding, encoded slashes or backslashes); invalid_connect_params",
        PizzlyError,
    ),
    "401": ("Missing or invalid key", PizzlyError),
    "403": ("destination_not_allowed: the integration's host is not a public address", PizzlyError),
    "404": ("Unknown integration or authentication", PizzlyError),
    "502": ("The integration's API could not be reached", PizzlyError),
    "default": Response("The upstream status, headers and body, as they came", content={"*/*": {}}),
}
_PROXY_PARAMS = [
    parameter("Pizzly-Auth-Id", "header", "", {"type": "string", "minLength": 1}, required=True),
    parameter("Pizzly-Setup-Id", "header", "", required=False),
]
_PROXY_PATHS = {
    "Base": ("/proxy/{integration}", [INTEGRATION]),
    "Path": (
        "/proxy/{integration}/{proxy+}",
        [INTEGRATION, parameter("proxy", "path", "The path to call on the integration's base URL")],
    ),
}


def _proxy(method: str, suffix: str) -> Operation:
    path, ids = _PROXY_PATHS[suffix]
    summary = "Call the integration's API with the stored credentials"
    security: Security = [{"secretKey": []}, {"publishableKey": []}]
    body: dict[str, Any] | None = {} if method in ("post", "put", "patch", "delete") else None
    return Operation(
        method, path, summary, f"proxy{suffix}{method.capitalize()}", "integrations", security, _PROXY_ERRORS,
        parameters=_PROXY_PARAMS, path_parameters=ids, body=body, body_required=False, body_media_type="*/*",
    )  # fmt: skip


def _preflight(suffix: str) -> Operation:
    path, ids = _PROXY_PATHS[suffix]
    allowed: Responses = {"204": ("Allowed origin, methods and requested headers", None)}
    summary = "CORS preflight for browser calls (pizzly-js)"
    return Operation("options", path, summary, f"proxy{suffix}Preflight", "integrations", [], allowed,
                     path_parameters=ids)  # fmt: skip


FLOW_OPERATIONS = [
    Operation(
        "get", "/auth/{integration}", "Start connecting an account (the popup pizzly-js opens)", "connectStart",
        "integrations", [{}, {"publishableKey": []}],
        {
            "302": ("Redirect to the provider's authorization page", None),
            "200": _page("Client-credentials integrations: connected at once; the page posts the result"),
            "400": _page("Failure page posting AUTHORIZATION_FAILED to the opener"),
            "401": _page("Missing or invalid publishable key (failure page)"),
            **_CONNECT_FAILURES,
        },
        parameters=_CONNECT_PARAMS, path_parameters=[INTEGRATION],
    ),
    Operation(
        "get", "/auth/callback", "Where providers send the user back", "connectCallback", "integrations", [],
        {
            "200": _page("Success page posting AUTHORIZATION_SUCEEDED with authId to the opener"),
            "400": _page("Failure page (unknown, reused or expired state; provider error)"),
            **_CONNECT_FAILURES,
        },
        parameters=_CALLBACK_PARAMS,
    ),
    *(
        op
        for suffix in _PROXY_PATHS
        for op in (*(_proxy(m, suffix) for m in ("get", "post", "put", "patch", "delete", "head")), _preflight(suffix))
    ),
]  # fmt: skip


# PizzlyError is also the body of the statuses every route shares (error_schema in its declaration.py).
PATHS, SCHEMAS = document_part([*API_OPERATIONS, *FLOW_OPERATIONS], [PizzlyError])
