"""The input boundary every service shares: one JSON parser with its limits, one id parser, valid text.

``chalicelib.http.parse_json`` reads every request body (and paging cursor); the services' own readers
(``http.json_body``, the broker's ``schemas.json_body``, the entity store's ``jsontext.loads``) answer what it
refuses as their malformed-JSON error. ``chalicelib.http.parse_id`` reads every id and integer of a path or
query. The routes are exercised in ``tests/functional/cross_cutting/input_boundary/``.
"""

from __future__ import annotations

import base64
import inspect
import json
import sys
from typing import Any

import pytest
from chalice.app import Request

from chalicelib import http
from chalicelib.entities import jsontext
from chalicelib.errors import BadRequest, InvalidJSON, ValidationFailed
from chalicelib.http import MAX_ID, MAX_JSON_DEPTH, MAX_NUMBER_LENGTH, JSONLimitError, JSONTooDeep, parse_json


def request(
    body: bytes = b"",
    *,
    path: dict[str, str] | None = None,
    query: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Request:
    """A Chalice request as API Gateway's REST proxy event makes it (body base64-encoded, as for every body)."""
    return Request(
        {
            "multiValueQueryStringParameters": query,
            "headers": {"content-type": "application/json", **(headers or {})},
            "pathParameters": path,
            "requestContext": {"httpMethod": "POST", "resourcePath": "/x"},
            "isBase64Encoded": True,
            "body": base64.b64encode(body).decode(),
            "stageVariables": None,
        }
    )


def refused(text: bytes | str, **options: Any) -> json.JSONDecodeError:
    with pytest.raises(json.JSONDecodeError) as caught:
        parse_json(text, **options)
    return caught.value


# --- nesting --------------------------------------------------------------------------------------------


def test_nesting_is_bounded_at_64_levels_with_the_offset_of_the_first_level_too_many() -> None:
    assert parse_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) == json.loads("[" * 64 + "]" * 64)
    assert parse_json('{"a":' * 63 + "[]" + "}" * 63) is not None
    error = refused('{"a": ' + "[" * 64 + "]" * 64 + "}")
    assert isinstance(error, JSONTooDeep) and error.pos == 6 + 63 and "64 levels" in error.msg


def test_deep_nesting_is_refused_without_recursion() -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 50)  # json.loads would need 10,000 frames
    try:
        error = refused(b"[" * 10_000 + b"]" * 10_000)
    finally:
        sys.setrecursionlimit(limit)
    assert isinstance(error, JSONTooDeep) and error.pos == MAX_JSON_DEPTH
    for unbalanced in ("[" * 10_000, "[" * 5_000 + "]" * 4_000, '{"a": ' + "[{" * 40):
        assert isinstance(refused(unbalanced), JSONTooDeep)
    assert not isinstance(refused("[" * 60 + "]" * 61), JSONTooDeep)  # too many closing: a syntax error


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = json.dumps({"markdown": "[" * 500 + '\\"{' * 100, "k": ["]" * 70]})
    assert parse_json(text)["markdown"].startswith("[[[")
    error = refused('["\\"[[[", ' + "[" * 64 + "]" * 64 + "]")
    assert isinstance(error, JSONTooDeep)
    ends_in_a_backslash = '["\\\\", "\\\\\\"[", ' + "[" * 63 + "]" * 63 + "]"  # "\\" then "\\\"["
    assert parse_json(ends_in_a_backslash)[:2] == ["\\", '\\"[']
    assert isinstance(refused(ends_in_a_backslash.replace("[" * 63, "[" * 64).replace("]" * 63, "]" * 64)), JSONTooDeep)


# --- text -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ('{"name": "\\ud800"}', 10),  # a high surrogate alone
        ('{"name": "\\uDBFFx"}', 10),  # ... followed by something else
        ('{"name": "\\udc00"}', 10),  # a low surrogate alone
        ('{"\\udfff": 1}', 2),  # in a key
        ('["ok", "\\ud83d\\ude00", "\\ude00\\ud83d"]', 24),  # a pair backwards
        ('["\\\\\\ud800"]', 4),  # an escaped backslash, then a lone escape
    ],
)
def test_unpaired_surrogate_escapes_are_refused_where_they_are(text: str, position: int) -> None:
    error = refused(text)
    assert isinstance(error, JSONLimitError) and error.pos == position and "Unicode" in error.msg


def test_valid_text_is_kept() -> None:
    assert parse_json('["\\ud83d\\ude00", "\\\\ud800", "caf\\u00e9"]') == ["\U0001f600", "\\ud800", "café"]
    assert parse_json("\ufeff[1]".encode()) == [1]  # a byte order mark is ignored


def test_text_is_utf8() -> None:
    with pytest.raises(UnicodeDecodeError):
        parse_json(b'{"a": "\xff"}')
    with pytest.raises(UnicodeDecodeError):
        parse_json('{"a": "\ud800"}'.encode("utf-8", "surrogatepass"))  # UTF-8 cannot carry a surrogate
    error = refused('{"a": "\ud800"}')  # a str handed over with a raw surrogate in it
    assert isinstance(error, JSONLimitError) and error.pos == 7


# --- numbers ------------------------------------------------------------------------------------------------


def test_number_literals_are_bounded_in_length() -> None:
    longest = "9" * MAX_NUMBER_LENGTH
    assert parse_json(f"[{longest}]") == [int(longest)]
    assert parse_json(f"[0.{'1' * (MAX_NUMBER_LENGTH - 2)}]")[0] == pytest.approx(1 / 9)
    for literal in ("9" * (MAX_NUMBER_LENGTH + 1), "1" * 4301, "0." + "1" * MAX_NUMBER_LENGTH):
        error = refused(f'{{"n": {literal}}}')
        assert isinstance(error, JSONLimitError) and error.pos == 6 and "1000 characters" in error.msg


def test_numbers_beyond_a_double_are_refused_unless_kept_as_written() -> None:
    assert isinstance(refused('{"n": 1e400}'), JSONLimitError)
    assert isinstance(refused('{"n": -1e400}'), JSONLimitError)
    assert parse_json('{"n": 1e308, "m": 1e-400}') == {"n": 1e308, "m": 0.0}
    assert parse_json('{"n": 1e400}', number=jsontext.Number) == {"n": "1e400"}
    with pytest.raises(JSONLimitError):
        parse_json("[" + "1" * 4301 + "]", number=jsontext.Number)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(constant: str) -> None:
    error = refused(f'{{"n": {constant}}}')
    assert error.pos == 6 and "not JSON" in error.msg
    assert refused(f"[{constant}]", number=jsontext.Number).pos == 1


# --- each service's reader answers in its own error ----------------------------------------------------------

BEYOND = [b"[" * 100 + b"]" * 100, b'{"a": "\\ud800"}', b'{"a": ' + b"1" * 4301 + b"}", b'{"a": NaN}', b'{"a": "\xff"}']


@pytest.mark.parametrize("body", BEYOND)
def test_the_shared_reader_answers_400_invalid_json(body: bytes) -> None:
    with pytest.raises(InvalidJSON) as caught:
        http.json_body(request(body))
    assert caught.value.status == 400 and caught.value.message.startswith("The request body is not valid JSON: ")


@pytest.mark.parametrize("body", BEYOND)
def test_the_brokers_reader_answers_422_json_invalid(body: bytes) -> None:
    from chalicelib.broker import schemas

    with pytest.raises(ValidationFailed) as caught:
        schemas.json_body(request(body))
    ((item),) = caught.value.details or []
    assert caught.value.status == 422 and item["type"] == "json_invalid" and item["loc"][0] == "body"


@pytest.mark.parametrize("body", BEYOND)
def test_the_entity_stores_reader_answers_400(body: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        jsontext.loads(body)
    assert caught.value.status == 400


def test_a_stored_entity_reads_back_whatever_it_holds() -> None:
    doc = '{"_id":"x","access":[],"huge":' + "1" * 5000 + ',"far":1e400}'
    value = jsontext.stored(doc)
    assert value["huge"] == "1" * 5000 and jsontext.dumps(value) == doc


@pytest.mark.parametrize(
    "cursor", [b"[" * 5000 + b"]" * 5000, b'{"c": 1, "i": "\\ud800"}', b'{"c": ' + b"1" * 4400 + b"}"]
)
def test_a_paging_cursor_is_read_with_the_same_limits(cursor: bytes) -> None:
    encoded = base64.urlsafe_b64encode(cursor).decode().rstrip("=")
    with pytest.raises(BadRequest) as caught:
        http.decode_cursor(encoded, {"c": int, "i": str})
    assert caught.value.error_code == "invalid_cursor"


# --- ids and integers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("007", 7),
        (42, 42),
        (str(MAX_ID), MAX_ID),
        (str(MAX_ID + 1), None),
        ("1" * 20, None),
        ("1" * 4301, None),
        ("\u00b2", None),  # superscript two: str.isdigit() says yes, int() refuses
        ("\u0661\u0662", None),  # Arabic-Indic twelve: int() reads 12
        ("\uff11", None),  # fullwidth one
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("1_000", None),
        ("1e3", None),
        ("", None),
        (True, None),
        (None, None),
        (1.0, None),
    ],
)
def test_ids_are_ascii_digits_and_bounded(text: Any, expected: int | None) -> None:
    assert http.parse_id(text) == expected


def test_integer_query_parameters_are_ascii_digits() -> None:
    def limit(*values: str) -> int:
        return http.int_query(request(query={"limit": list(values)}), "limit", 25, minimum=1, maximum=100)

    assert limit("10") == 10 and limit("1", "7") == 7
    for value in ("\u0661\u0660", "\u00b2", "1" * 4301, "1_0", " 10", "10 ", "0x10"):
        with pytest.raises(BadRequest) as caught:
            limit(value)
        assert caught.value.error_code == "invalid_query" and "must be an integer" in caught.value.message
    with pytest.raises(BadRequest, match="between 1 and 100"):
        limit("-5")
    assert http.parse_integer("-12") == -12 and http.parse_integer("\u0661") is None


def test_githubs_retry_after_is_read_as_ascii_digits() -> None:
    from chalicelib.repotags.github import _retry_after

    assert _retry_after({"retry-after": "30"}) == 30
    assert _retry_after({"retry-after": "\u00b2"}) == 60  # int() would raise: a 500 instead of a 503
    assert _retry_after({"retry-after": "1" * 4301, "x-ratelimit-reset": "x"}) == 60


def test_a_digit_only_slug_gets_its_kind_in_front_and_reads_as_an_id() -> None:
    from chalicelib.publishing import slugs

    assert slugs.slug_from("2024", "theme") == "theme-2024" and slugs.reads_as_id("2024")
    assert slugs.slug_from("\u0662\u0660\u0662\u0664", "theme") == "theme"  # no ASCII left
    assert not slugs.reads_as_id("\u0661\u0662") and not slugs.reads_as_id("12a") and not slugs.reads_as_id("")


# --- path and query text --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "headers"),
    [
        ({"user": "\ud800"}, None, None),
        ({"\udc00": "x"}, None, None),
        (None, {"group": ["ok", "\udfff"]}, None),
        (None, {"\ud800": ["x"]}, None),
        (None, None, {"authorization": "Bearer \ud800"}),
    ],
)
def test_path_query_and_header_text_must_be_unicode(
    path: dict[str, str] | None, query: dict[str, list[str]] | None, headers: dict[str, str] | None
) -> None:
    with pytest.raises(BadRequest) as caught:
        http.require_unicode_parameters(request(path=path, query=query, headers=headers))
    assert caught.value.status == 400 and caught.value.error_code == "invalid_unicode"


def test_unicode_path_and_query_text_passes() -> None:
    http.require_unicode_parameters(request(path={"user": "z\u00fcrich \U0001f600"}, query={"q": ["\u0661\u0662"]}))
    http.require_unicode_parameters(request())
