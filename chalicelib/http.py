"""Request parsing, paging and response helpers shared by every service."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

from chalice.app import Request, Response

from chalicelib.errors import BadRequest, InvalidJSON, PayloadTooLarge, UnsupportedMediaType
from chalicelib.settings import get_settings

JSON_TYPES = ("application/json",)

# Limits of every JSON request body (and cursor), documented in README.md ("Limits"). Values outside them
# are answered as malformed JSON, in each service's own error body, before anything is read or written.
MAX_JSON_DEPTH = 64  # arrays and objects nested in each other
MAX_NUMBER_LENGTH = 1000  # characters of one number literal (Python refuses int <-> str beyond 4,300 digits)

# Ids in paths and queries: ASCII digits only, at most 19, at most 2**63 - 1 (a signed 64-bit integer, well
# within what a DynamoDB Number holds exactly).
MAX_ID = 2**63 - 1
_ID = re.compile(r"[0-9]{1,19}")
_INTEGER = re.compile(r"-?[0-9]{1,19}")


def is_json_type(content_type: str) -> bool:
    """Whether a Content-Type header names JSON (``application/json`` or ``application/*+json``)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def raw_body(request: Request) -> bytes:
    """The request body as bytes, refused when larger than the configured limit."""
    body = request.raw_body
    data = body if isinstance(body, bytes) else body.encode()
    if len(data) > get_settings().max_body_bytes:
        raise PayloadTooLarge(f"The request body is larger than {get_settings().max_body_bytes} bytes.")
    return data


def json_body(request: Request, *, required: bool = True) -> Any:
    """The parsed JSON body; 415 for another content type, 400 for malformed or missing JSON."""
    data = raw_body(request)
    if not data.strip():
        if required:
            raise BadRequest("A JSON request body is required.", code="missing_body")
        return None
    content_type = request.headers.get("content-type", "")
    if content_type and not is_json_type(content_type):
        raise UnsupportedMediaType(f"Expected Content-Type application/json, got {content_type.split(';')[0]}.")
    try:
        return parse_json(data)
    except ValueError as e:  # json.JSONDecodeError (limits included) and UnicodeDecodeError
        raise InvalidJSON(f"The request body is not valid JSON: {_json_error(e)}") from e


def json_object(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The JSON body, which must be an object."""
    body = json_body(request, required=required)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidJSON("The request body must be a JSON object.")
    return body


def _json_error(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno} column {error.colno}"
    return "it is not UTF-8 text"


class JSONLimitError(json.JSONDecodeError):
    """Well-formed JSON beyond one of the documented limits.

    A :class:`json.JSONDecodeError` (with the offset of the problem), so every caller that answers
    malformed JSON answers this the same way, in its service's error body.
    """


class JSONTooDeep(JSONLimitError):
    """Arrays and objects nested deeper than :data:`MAX_JSON_DEPTH`."""


# What lies outside strings is read from the UTF-8 bytes with C-speed operations: escaped backslashes and
# quotes dropped, the text split at quotes (every other piece is outside), then only brackets, or only
# number characters, kept.
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SQUARE = bytes.maketrans(b"{}", b"[]")
_DEPTH_STEP = [1 if b in b"[{" else -1 for b in range(256)]
_NUMBER_MARKS = bytes(ord("1") if b in b"-+.eE0123456789" else ord(" ") for b in range(256))
_TOO_LONG_RUN = b"1" * (MAX_NUMBER_LENGTH + 1)
# A string (closing quote optional, so an unterminated one runs to the end), or a bracket: the slow scan
# that finds where a text is too deep, once it is known to be.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[{\]}]', re.S)
_DEPTH = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Every escape in order (so an escaped backslash is skipped): a high surrogate with the low one that must
# follow it, a low surrogate on its own, or any other escape.
_ESCAPE = re.compile(
    r"\\(?:u(?P<high>[dD][89abAB][0-9a-fA-F]{2})(?P<low>\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    r"|u(?P<lone>[dD][c-fC-F][0-9a-fA-F]{2})|.)",
    re.S,
)


def parse_json(data: bytes | str, *, number: Callable[[str], Any] | None = None) -> Any:
    """JSON text from a request, within the limits; the one parser every service reads requests with.

    Bytes must be UTF-8 (a leading byte order mark is ignored). Refused, without recursion and before
    parsing: nesting deeper than :data:`MAX_JSON_DEPTH` and strings that are not valid Unicode (an
    unpaired surrogate escape such as ``"\\ud800"``, in keys as in values). Refused while parsing:
    ``NaN`` and ``Infinity`` (not JSON), number literals longer than :data:`MAX_NUMBER_LENGTH` and, unless
    ``number`` is given, numbers beyond the range of a float (``1e400``). ``number`` receives every number
    literal (after the length check) instead of ``int``/``float``: the entity store keeps them as written.
    Raises :class:`json.JSONDecodeError` (:class:`JSONLimitError` for a limit) or :class:`UnicodeDecodeError`.
    """
    if isinstance(data, bytes | bytearray):
        text = data.decode("utf-8")  # strict: UTF-8 cannot encode a surrogate, so none comes from here
        raw = bytes(data)
    elif not is_unicode(data):
        raise JSONLimitError("Text must be valid Unicode (no unpaired surrogate)", data, _first_surrogate(data))
    else:
        text, raw = data, data.encode("utf-8")
    if text.startswith("\ufeff"):
        text, raw = text[1:], raw[3:]
    outside = _outside_strings(raw) if len(raw) > MAX_NUMBER_LENGTH or _may_be_deep(raw) else b""
    _check_depth(text, outside)
    _check_unicode(text)

    hooks = _Numbers(text, number)
    if number is not None:
        return json.loads(text, parse_int=hooks.exact, parse_float=hooks.exact, parse_constant=hooks.constant)
    # Without a run of number characters longer than the limit, no literal can exceed it: int's fast path.
    integer = hooks.integer if _TOO_LONG_RUN in outside.translate(_NUMBER_MARKS) else None
    return json.loads(text, parse_int=integer, parse_float=hooks.real, parse_constant=hooks.constant)


def _outside_strings(raw: bytes) -> bytes:
    """The bytes of a JSON text outside its strings (exactly, for any text the parser accepts)."""
    if b"\\" in raw:
        # Pairs of backslashes first, left to right, as escapes are read; then escaped quotes.
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(raw.split(b'"')[::2])


def _may_be_deep(raw: bytes) -> bool:
    return raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH


class _Numbers:
    """The number and constant hooks of :func:`json.loads` for one text, refusing what is beyond the limits."""

    def __init__(self, text: str, convert: Callable[[str], Any] | None) -> None:
        self.text = text
        self.convert = convert

    def _refuse(self, message: str, literal: str) -> JSONLimitError:
        return JSONLimitError(message, self.text, max(self.text.find(literal), 0))

    def integer(self, value: str) -> int:
        if len(value) > MAX_NUMBER_LENGTH:
            raise self._refuse(f"Numbers can be at most {MAX_NUMBER_LENGTH} characters long", value)
        return int(value)

    def real(self, value: str) -> float:
        if len(value) > MAX_NUMBER_LENGTH:
            raise self._refuse(f"Numbers can be at most {MAX_NUMBER_LENGTH} characters long", value)
        parsed = float(value)
        if math.isinf(parsed):
            raise self._refuse("Numbers must be within the range of a double", value)
        return parsed

    def exact(self, value: str) -> Any:
        if len(value) > MAX_NUMBER_LENGTH:
            raise self._refuse(f"Numbers can be at most {MAX_NUMBER_LENGTH} characters long", value)
        assert self.convert is not None
        return self.convert(value)

    def constant(self, name: str) -> Any:
        raise json.JSONDecodeError(f"{name} is not JSON", self.text, max(self.text.find(name), 0))


def _check_depth(text: str, outside: bytes) -> None:
    if not _may_be_deep(outside):
        return  # fewer opening brackets than the limit (nearly every body): cannot be too deep
    if _depth(outside.translate(None, _NOT_BRACKETS)) <= MAX_JSON_DEPTH:
        return
    depth, position = 0, 0
    for match in _STRUCTURE.finditer(text):  # again, for the offset of the first bracket too deep
        depth += _DEPTH.get(match.group(), 0)
        if depth > MAX_JSON_DEPTH:
            position = match.start()
            break
    raise JSONTooDeep(f"Arrays and objects can be nested at most {MAX_JSON_DEPTH} levels deep", text, position)


def _depth(brackets: bytes) -> int:
    """How deep brackets nest: each pass removes the innermost pairs, so the passes count the levels."""
    remaining, depth = brackets.translate(_SQUARE), 0
    while remaining and depth <= MAX_JSON_DEPTH:
        inner = remaining.replace(b"[]", b"")
        if inner == remaining:  # unbalanced (not JSON): the running total says how deep it gets
            return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)
        remaining, depth = inner, depth + 1
    return depth


def _first_surrogate(text: str) -> int:
    return next(i for i, c in enumerate(text) if "\ud800" <= c <= "\udfff")


def _check_unicode(text: str) -> None:
    if _SURROGATE_ESCAPE.search(text) is None:
        return
    for match in _ESCAPE.finditer(text):
        if (match.group("high") and not match.group("low")) or match.group("lone"):
            raise JSONLimitError("Text must be valid Unicode (no unpaired surrogate escape)", text, match.start())


def is_unicode(text: str) -> bool:
    """Whether ``text`` is valid Unicode (no unpaired surrogate), so it can be stored and sent as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def require_unicode_parameters(request: Request) -> None:
    """400 when a path or query parameter, or a header, is not valid Unicode text.

    API Gateway percent-decodes paths and queries, and an event can carry unpaired surrogates that no
    table, log line or response can hold; they are refused before any route reads them.
    """
    pairs = [*(request.uri_params or {}).items(), *query_pairs(request), *request.headers.items()]
    if not all(is_unicode(name) and is_unicode(value) for name, value in pairs):
        raise BadRequest("Path and query parameters and headers must be valid Unicode text.", code="invalid_unicode")


def query(request: Request, name: str) -> str | None:
    """One query parameter (the last, if repeated), or None."""
    params = request.query_params
    if not params or name not in params:
        return None
    values = params.getlist(name)
    return values[-1] if values else None


def query_pairs(request: Request) -> list[tuple[str, str]]:
    """Every query parameter, repeated ones included, in order."""
    params = request.query_params
    if not params:
        return []
    return [(name, value) for name in params for value in params.getlist(name)]


def query_dict(request: Request) -> dict[str, str]:
    """The query parameters, the last value of each."""
    return dict(query_pairs(request))


def parse_id(text: Any) -> int | None:
    """The number an id in a path or query is written as, or None when it is not one.

    An id is 1 to 19 ASCII digits (leading zeros allowed) worth at most :data:`MAX_ID`. Not ``str.isdigit``
    and ``int``: those take ``²`` and ``١٢`` as digits, and ``int`` refuses more than 4,300 of them.
    """
    if isinstance(text, bool) or not isinstance(text, str | int):
        return None
    text = str(text)
    if not _ID.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def parse_integer(text: str) -> int | None:
    """A signed integer from a path or query (``-``, then 1 to 19 ASCII digits), or None."""
    if not _INTEGER.fullmatch(text):
        return None
    return int(text)


def int_query(request: Request, name: str, default: int, *, minimum: int, maximum: int) -> int:
    """An integer query parameter within bounds; 400 otherwise."""
    raw = query(request, name)
    if raw is None or raw == "":
        return default
    value = parse_integer(raw)
    if value is None:
        raise BadRequest(f"Query parameter '{name}' must be an integer.", code="invalid_query")
    if not minimum <= value <= maximum:
        raise BadRequest(f"Query parameter '{name}' must be between {minimum} and {maximum}.", code="invalid_query")
    return value


def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque paging cursor for a position."""
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, fields: dict[str, type]) -> dict[str, Any]:
    """The position in a cursor made by :func:`encode_cursor`, checked field by field; 400 otherwise."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = parse_json(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error) as e:  # UnicodeDecodeError and json.JSONDecodeError are ValueErrors
        raise BadRequest("The cursor is not valid.", code="invalid_cursor") from e
    if not isinstance(position, dict) or set(position) != set(fields):
        raise BadRequest("The cursor is not valid.", code="invalid_cursor")
    for name, kind in fields.items():
        if not isinstance(position[name], kind) or isinstance(position[name], bool):
            raise BadRequest("The cursor is not valid.", code="invalid_cursor")
    return position


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response with an explicit status."""
    all_headers: dict[str, str | list[str]] = {"Content-Type": "application/json", **(headers or {})}
    return Response(body=json.dumps(body, separators=(",", ":")), status_code=status, headers=all_headers)


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    """A response without a body."""
    all_headers: dict[str, str | list[str]] = {**(headers or {})}
    return Response(body="", status_code=status, headers=all_headers)


def now_ms() -> int:
    """The current time in milliseconds since the epoch."""
    return int(datetime.now(UTC).timestamp() * 1000)


def iso_ms(ms: int | float | None) -> str | None:
    """ISO 8601 UTC with milliseconds (``2020-06-02T13:36:45.517Z``) for a millisecond timestamp."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms) % 1000:03d}Z"


def basic_username(request: Request) -> str | None:
    """The username of an HTTP Basic ``Authorization`` header, or None when absent or malformed."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, _, _password = decoded.partition(":")
    return username


def bearer_token(request: Request) -> str | None:
    """The token of a ``Bearer`` ``Authorization`` header, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
