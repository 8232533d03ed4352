"""Exact JSON text and ObjectIds of the entity store."""

from __future__ import annotations

import pytest

from chalicelib.entities import jsontext
from chalicelib.entities.objectid import is_object_id, new_object_id, timestamp_of
from chalicelib.errors import BadRequest


@pytest.mark.parametrize(
    "text",
    [
        '{"a":0.1,"b":12345678901234567890,"c":1.10,"d":1e400,"e":-0,"f":2.5E-3}',
        '{"nested":{"list":[1,{"x":[null,true,false]}],"empty":{},"none":[]}}',
        '{"text":"caf\u00e9 \\"q\\" \\n","":"empty key"}',
        "[]",
    ],
)
def test_json_text_round_trips_exactly(text: str) -> None:
    assert jsontext.dumps(jsontext.loads(text)) == text


def test_numbers_never_become_floats() -> None:
    value = jsontext.loads('{"a":0.1,"b":12345678901234567890}')
    assert value == {"a": "0.1", "b": "12345678901234567890"}
    assert all(isinstance(v, jsontext.Number) for v in value.values())


@pytest.mark.parametrize("text", ['{"a":NaN}', '{"a":-Infinity}', "{", b"\xff\xfe", "[" * 5000 + "]" * 5000])
def test_what_is_not_json_is_refused(text: str | bytes) -> None:
    with pytest.raises(BadRequest):
        jsontext.loads(text)


def test_lone_surrogates_and_deep_nesting_cannot_be_written() -> None:
    with pytest.raises(BadRequest):
        jsontext.dumps(jsontext.loads('{"s":"\\udc00"}'))
    with pytest.raises(BadRequest):
        jsontext.dumps(jsontext.loads("[" * 65 + "]" * 65))
    assert jsontext.dumps(jsontext.loads("[" * 64 + "]" * 64)) == "[" * 64 + "]" * 64


def test_object_ids_carry_the_second_and_count_up() -> None:
    first, second = new_object_id(1_567_285_200_123), new_object_id(1_567_285_200_999)
    assert is_object_id(first) and len(first) == 24 and first == first.lower()
    assert timestamp_of(first) == 1_567_285_200
    assert first[8:18] == second[8:18]  # the process's random bytes
    assert int(second[18:], 16) == (int(first[18:], 16) + 1) % 2**24
    assert not is_object_id("58238a935baa56173b24f0e") and not is_object_id("58238a935baa56173b24f0eg")
    assert is_object_id("58238A935BAA56173B24F0E4")
