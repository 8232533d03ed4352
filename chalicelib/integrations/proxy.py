"""The API proxy: ``ANY /proxy/{integration}/{path+}`` forwards a call with the stored credentials.

The integration's ``request`` template (``baseURL``, ``headers``, ``params``) is filled from the
authentication's payload (``auth.*``), its connect parameters (``connectParams.*``) and the forwarded
headers (``headers.*``). ``Pizzly-Proxy-X`` headers are forwarded as ``X``; ``pizzly_*`` query
parameters are dropped; the body passes byte for byte. OAuth 1.0a requests are signed over the final
URL and query. A token about to expire is refreshed first; a 401 from upstream triggers one refresh
and one retry. A path that climbs out of the base URL's path (``..``, in any encoding a server might
decode) is refused, and upstream is reached only through the outbound guard (:mod:`chalicelib.outbound`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

from chalicelib import catalog, errors, observability, outbound
from chalicelib.errors import BadGateway, BadRequest
from chalicelib.http import now_ms
from chalicelib.integrations import repository, service
from chalicelib.integrations.models import Authentication
from chalicelib.integrations.params import validate_params
from chalicelib.integrations.payload import open_payload
from chalicelib.integrations.refresh_store import AuthenticationStore, held
from chalicelib.limits import MAX_RESPONSE_BODY_BYTES
from chalicelib.oauth import due, grants, oauth1, providers
from chalicelib.oauth import refresh as refreshing

FORWARD_PREFIX = "pizzly-proxy-"
# Hop-by-hop headers, and those that describe the upstream encoding requests already undid.
_DROPPED_RESPONSE_HEADERS = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "content-encoding", "content-length",
    }
)  # fmt: skip
_PASSED_REQUEST_HEADERS = ("content-type", "accept")


# How many rounds of percent-decoding a path is read under: a server behind another may decode twice.
_DECODING_ROUNDS = 3


class MissingAuthId(BadRequest):
    code = "missing_auth_id"
    default_message = "The Pizzly-Auth-Id header is required: the authId of the connection to call with."


class PathOutsideBase(BadRequest):
    code = "invalid_proxy_path"
    default_message = "The path leaves the integration's base URL ('..' segments, encoded or not, are refused)."


def climbs_out(tail: str) -> bool:
    """Whether a path tail reaches above its base under any reading a server might make of it.

    Each reading (as sent, then decoded once, twice...) takes backslashes and encoded slashes and
    backslashes as separators, ``;parameters`` as part of their segment (Tomcat reads ``..;x`` as
    ``..``), and ``.`` and ``..`` as dot segments. Encoded slashes that stay inside the base pass.
    """
    reading = tail
    for _ in range(_DECODING_ROUNDS + 1):
        depth = 0
        for segment in reading.replace("\\", "/").split("/"):
            name = segment.split(";", 1)[0]
            if name == "..":
                depth -= 1
                if depth < 0:
                    return True
            elif name not in ("", "."):
                depth += 1
        decoded = unquote(reading)
        if decoded == reading:
            return False
        reading = decoded
    return True  # still encoded after every round: refuse rather than guess


@dataclass
class ProxyRequest:
    """An incoming proxy call, as the route parsed it."""

    method: str
    tail: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class ProxyResponse:
    """What upstream answered."""

    status: int
    headers: dict[str, str | list[str]]
    body: bytes


def forward(integration_id: str, call: ProxyRequest) -> ProxyResponse:
    """Forward one call to the integration's API with the authentication named by Pizzly-Auth-Id."""
    if climbs_out(call.tail):
        raise PathOutsideBase()
    auth_id = call.headers.get("pizzly-auth-id", "").strip()
    if not auth_id:
        raise MissingAuthId()
    item = _authentication(integration_id, auth_id)
    definition = catalog.get(integration_id)
    setup_id = call.headers.get("pizzly-setup-id", "").strip()
    if setup_id and setup_id != item.setup_id:
        raise BadRequest("Pizzly-Setup-Id does not match the authentication's configuration.", code="invalid_setup_id")
    payload = open_payload(item)
    oauth2 = catalog.auth_type(definition) == catalog.OAUTH2
    buffer = due.buffer_ms(definition)
    if oauth2 and grants.renewable(definition, payload) and refreshing.is_due(held(item, payload), now_ms(), buffer):
        item, payload = _refresh(item, force=False, buffer=buffer)
    response = _send(definition, item, payload, call)
    if response.status == 401 and oauth2 and grants.renewable(definition, payload) and _may_retry(item):
        item, payload = _refresh(item, force=True, buffer=0)
        response = _send(definition, item, payload, call)
    return response


def _may_retry(item: Authentication) -> bool:
    """A 401 is worth one refresh unless the provider already refused it for good, or we are backing off."""
    if item.needs_reconnect:
        return False
    return item.next_attempt_at is None or int(item.next_attempt_at) <= now_ms()


def _authentication(integration_id: str, auth_id: str) -> Authentication:
    item = repository.get_authentication(auth_id) if len(auth_id) <= 128 else None
    if item is None or item.integration != integration_id:
        catalog.get(integration_id)
        raise service.UnknownAuthentication(f"No authentication '{auth_id[:128]}' exists for '{integration_id}'.")
    return item


def _refresh(item: Authentication, *, force: bool, buffer: int) -> tuple[Authentication, dict[str, Any]]:
    try:
        held = refreshing.refresh(
            AuthenticationStore(), item.id, force=force, seen_updated_at=int(item.updated_at), buffer_ms=buffer
        )
    except refreshing.RefreshFailed:
        if not force:
            # The old token may still work until it actually expires; let upstream decide.
            return item, open_payload(item)
        raise
    return held.record, held.secret


def _send(
    definition: dict[str, Any], item: Authentication, payload: dict[str, Any], call: ProxyRequest
) -> ProxyResponse:
    import requests  # on first use (cold start)

    forwarded = {
        name[len(FORWARD_PREFIX) :]: value for name, value in call.headers.items() if name.startswith(FORWARD_PREFIX)
    }
    values: dict[str, dict[str, Any]] = {
        "auth": payload,
        "connectParams": dict(item.connect_params or {}),
        "headers": forwarded,
    }
    validate_params(values["connectParams"])  # may have been stored before imports were checked
    template = definition["request"]
    base = catalog.fill(template["baseURL"], values)
    url = _join(base, call.tail)
    headers = {name: value for name, value in call.headers.items() if name in _PASSED_REQUEST_HEADERS}
    headers.update({name: catalog.fill(value, values) for name, value in template.get("headers", {}).items()})
    headers.update(forwarded)
    headers.setdefault("User-Agent", "Keyport")
    query = [(k, v) for k, v in call.query if not k.lower().startswith("pizzly_")]
    query += [(k, catalog.fill(v, values)) for k, v in template.get("params", {}).items()]
    url = _with_query(url, query)
    body = call.body
    if catalog.auth_type(definition) == catalog.OAUTH1:
        configuration = service.configuration_of(item.integration, item.setup_id)
        key, secret = providers.client_credentials(configuration)
        url, headers, body = oauth1.sign(
            definition["auth"], key, secret, call.method, url, headers, body,
            token=payload.get("oAuthToken"), token_secret=payload.get("oAuthTokenSecret"),
        )  # fmt: skip
    try:
        upstream = outbound.session().request(
            call.method,
            url,
            headers=headers,
            data=body or None,
            timeout=outbound.timeout(),
            allow_redirects=False,
            stream=True,  # read no more than a Lambda response can carry
        )
        content = _capped_content(upstream)
    except requests.RequestException as e:
        observability.metric("ProxyCall", Outcome="unreachable")
        raise BadGateway(f"The integration's API could not be reached ({type(e).__name__}).", code="proxy_error") from e
    observability.metric("ProxyCall", Outcome=f"{upstream.status_code // 100}xx")
    return ProxyResponse(upstream.status_code, _response_headers(upstream.raw.headers), content)


def _capped_content(upstream: Any) -> bytes:
    """The upstream body, refused (502 response_too_large) past what Keyport can return (chalicelib/limits.py)."""
    body = bytearray()
    with upstream:
        for chunk in upstream.iter_content(chunk_size=64 * 1024):
            body += chunk
            if len(body) > MAX_RESPONSE_BODY_BYTES:
                observability.metric("ProxyCall", Outcome="too_large")
                raise errors.ResponseTooLarge(
                    "The integration's API answered more than Keyport can return (about 4.5 MB); ask it for less."
                )
    return bytes(body)


def _join(base: str, tail: str) -> str:
    if not tail:
        return base
    return base.rstrip("/") + "/" + quote(tail.lstrip("/"), safe="/:@!$&'()*+,;=-._~%")


def _with_query(url: str, query: list[tuple[str, str]]) -> str:
    if not query:
        return url
    parts = urlsplit(url)
    existing = parts.query
    extra = urlencode(query)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, f"{existing}&{extra}" if existing else extra, ""))


def _response_headers(raw: Any) -> dict[str, str | list[str]]:
    headers: dict[str, str | list[str]] = {}
    for name in {n.lower() for n in raw}:
        if name in _DROPPED_RESPONSE_HEADERS:
            continue
        values = raw.getlist(name) if hasattr(raw, "getlist") else [raw[name]]
        headers[name] = values[0] if len(values) == 1 else list(values)
    return headers
