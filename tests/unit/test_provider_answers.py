"""What Keyport reads from answers it did not write: OAuth 2 token responses and blueprint configs."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.oauth import oauth2
from chalicelib.publishing.builds import BuildFailed
from chalicelib.publishing.gitrepo import CONFIG_FILE, Snapshot, config_of


@pytest.mark.parametrize(
    ("expires_in", "stored"),
    [
        (3600, 3600),
        ("3600", 3600),
        (3600.0, 3600),
        ("١٢", None),  # Arabic-Indic digits are not a number of seconds
        ("²", None),
        ("9" * 4301, None),  # int() refuses this many digits
        (10**40, None),  # beyond any lifetime: no expiry rather than a number DynamoDB cannot hold
        (float("inf"), None),
        (True, None),
        (0, None),
        (-5, None),
        (None, None),
    ],
)
def test_expires_in_is_read_as_whole_seconds_or_not_at_all(expires_in: Any, stored: int | None) -> None:
    payload = oauth2.payload_from_token({"access_token": "t", "expires_in": expires_in}, None, 0)
    assert payload.get("expiresIn") == stored


def test_a_token_answer_nested_too_deep_reads_as_no_answer() -> None:
    assert oauth2._read("[" * 10_000 + "]" * 10_000, "application/json") == {}
    assert oauth2._read('{"access_token": "t", "x": "\\ud800"}', "application/json") == {}
    assert oauth2._read('{"access_token": "t"}', "application/json") == {"access_token": "t"}


@pytest.mark.parametrize(
    "raw",
    [b"[" * 10_000 + b"]" * 10_000, b'{"type": "app", "x": "\\ud800"}', b'{"type": "app", "n": ' + b"9" * 4301 + b"}"],
)
def test_a_blueprint_config_beyond_the_limits_fails_the_build_with_a_reason(raw: bytes) -> None:
    with pytest.raises(BuildFailed, match="is not valid JSON"):
        config_of(Snapshot(commit="c", files={CONFIG_FILE: raw}))


def test_a_blueprint_config_within_the_limits_is_read() -> None:
    assert config_of(Snapshot(commit="c", files={CONFIG_FILE: b'{"type": "app"}'}))["type"] == "app"
