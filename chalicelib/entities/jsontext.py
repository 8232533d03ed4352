"""JSON that keeps every number exactly as it was written.

Entity fields are stored as JSON text. Numbers are parsed into :class:`Number`, a ``str`` holding the
literal (``0.1``, ``1.10``, ``12345678901234567890``, ``1e400``), and written back unchanged, so no value
ever passes through a float. Requests are read by the parser every service shares
(:func:`chalicelib.http.parse_json`), with its limits: nesting depth, number length, valid Unicode (a lone
surrogate such as ``"\\ud800"`` cannot be stored as UTF-8). Stored documents are read back by :func:`stored`,
which never converts a number, so every stored entity reads back, whatever it holds.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any

from chalicelib.errors import BadRequest, InvalidJSON
from chalicelib.http import MAX_JSON_DEPTH, JSONTooDeep, parse_json

MAX_DEPTH = MAX_JSON_DEPTH


class Number(str):
    """A JSON number, kept as its literal text."""

    __slots__ = ()


class TooDeep(BadRequest):
    code = "too_deep"
    default_message = f"JSON values can be nested at most {MAX_DEPTH} levels deep."


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def loads(data: bytes | str) -> Any:
    """Parse request JSON within the shared limits, numbers kept as :class:`Number`; 400 when it is not JSON."""
    try:
        return parse_json(data, number=Number)
    except UnicodeDecodeError as e:
        raise InvalidJSON("The request body is not UTF-8 text.") from e
    except JSONTooDeep as e:
        raise TooDeep() from e
    except json.JSONDecodeError as e:
        raise InvalidJSON(f"The request body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}.") from e


def stored(doc: str) -> Any:
    """A stored document (checked when it was written), numbers kept as :class:`Number`: never converted, so a
    number of any length reads back (a plain ``json.loads`` refuses integers beyond 4,300 digits)."""
    return json.loads(doc, parse_float=Number, parse_int=Number, parse_constant=_refuse_constant)


def dumps(value: Any) -> str:
    """Compact JSON text of a value made of dicts, lists, str, :class:`Number`, int, bool and None."""
    parts: list[str] = []
    _write(value, parts, 0)
    text = "".join(parts)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise BadRequest("Strings must be valid Unicode text (no lone surrogates).", code="invalid_unicode") from e
    return text


_CONSTANTS = {None: "null", True: "true", False: "false"}


def _write(value: Any, out: list[str], depth: int) -> None:
    if isinstance(value, str):
        out.append(value if isinstance(value, Number) else encode_basestring(value))
    elif value is None or isinstance(value, bool):
        out.append(_CONSTANTS[value])
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise TooDeep()
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(encode_basestring(str(key)))
            out.append(":")
            _write(item, out, depth + 1)
        out.append("}")
    elif isinstance(value, list | tuple):
        if depth >= MAX_DEPTH:
            raise TooDeep()
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out, depth + 1)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not kept exactly in JSON")
