"""Connect parameters (``connectParams``): the values a user gives that fill an integration's URLs.

The connect flow reads them from its query, the REST import from its body, the proxy from the stored
authentication; all hold them to the same rules, so filling one into a URL can never move the URL's
host, port or path, and never make it name an address the outbound guard refuses.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from chalicelib import catalog, outbound
from chalicelib.errors import BadRequest
from chalicelib.settings import get_settings

PARAM_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
PARAM_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}\Z")
PARAM_NAME = re.compile(r"^params\[([A-Za-z][A-Za-z0-9_]{0,63})\]\Z")
MAX_PARAMS = 20
URL_FIELDS = ("authorizationURL", "tokenURL", "refreshURL", "requestTokenURL", "userAuthorizationURL", "accessTokenURL")


class InvalidConnectParams(BadRequest):
    code = "invalid_connect_params"
    default_message = "The connect parameters are not valid."


def connect_params(query: dict[str, str]) -> dict[str, str]:
    """``params[name]=value`` query parameters as pizzly-js sends them, validated."""
    found = {match.group(1): value for key, value in query.items() if (match := PARAM_NAME.match(key))}
    return validate_params(found)


def validate_params(params: dict[str, Any]) -> dict[str, str]:
    """Connect parameters, however they arrive (connect flow, import, stored): names and values checked.

    A value is one host label or path segment at most (letters, digits, '.', '-', '_', starting with a
    letter or digit), so filling it into a URL can never change the URL's host, port or path beyond it.
    """
    if len(params) > MAX_PARAMS:
        raise InvalidConnectParams(f"At most {MAX_PARAMS} connect parameters are allowed.")
    for name, value in params.items():
        if not isinstance(name, str) or not PARAM_KEY.match(name):
            raise InvalidConnectParams("Connect parameter names are a letter then letters, digits or '_' (64 at most).")
        if not isinstance(value, str) or not PARAM_VALUE.match(value):
            raise InvalidConnectParams(
                f"Connect parameter '{name}' may hold only letters, digits, '.', '-' and '_' (100 at most)."
            )
    return dict(params)


def check_destinations(definition: dict[str, Any], params: dict[str, str]) -> None:
    """Refuse connect parameters that make one of the integration's URLs name an address not allowed.

    URLs the parameters cannot fill (a parameter missing) are left to the moment they are used.
    """
    templates = [(f"auth.{n}", definition["auth"].get(n)) for n in URL_FIELDS]
    templates.append(("request.baseURL", definition.get("request", {}).get("baseURL")))
    allow_loopback = get_settings().allow_http_loopback
    for field_name, template in templates:
        if not isinstance(template, str):
            continue
        try:
            url = catalog.fill(template, {"connectParams": params})
        except catalog.MissingTemplateValue:
            continue
        host = urlsplit(url).hostname or ""
        if not outbound.host_allowed(host, allow_loopback=allow_loopback):
            raise InvalidConnectParams(
                f"The connect parameters make '{field_name}' name an address that is not allowed."
            )
