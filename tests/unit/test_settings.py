"""Settings read each kind of value one way: blanks stripped, an empty value means the default."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.settings import Settings, clear_settings, get_settings


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    clear_settings()
    yield monkeypatch
    monkeypatch.undo()
    clear_settings()


def _read() -> Settings:
    clear_settings()
    return get_settings()


def test_blank_values_mean_the_default_for_every_kind(settings: pytest.MonkeyPatch) -> None:
    for name in ("STAGE", "TABLE_PREFIX", "SECRET_KEY_PREVIOUS", "KEYPORT_LOCAL", "ALLOW_HTTP_LOOPBACK"):
        settings.setenv(name, "  ")
    for name in ("SECRETS_MAX_AGE_SECONDS", "REQUEST_DEADLINE_SECONDS", "ALLOWED_ORIGINS", "AWS_REGION"):
        settings.setenv(name, " ")
    settings.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    read = _read()
    assert (read.stage, read.table_prefix, read.secret_key_previous) == ("dev", "keyport-dev", None)
    assert (read.local, read.allow_http_loopback) == (False, False)
    assert (read.secrets_max_age_seconds, read.request_deadline_seconds) == (300, 25.0)
    assert (read.allowed_origins, read.region) == ((), "eu-west-3")


def test_values_are_stripped_and_typed(settings: pytest.MonkeyPatch) -> None:
    settings.setenv("STAGE", " prod ")
    settings.setenv("OPERATOR_SECRET_ARN", " arn:aws:secretsmanager:us-east-1:1:secret:op ")
    settings.setenv("KEYPORT_LOCAL", " Yes ")
    settings.setenv("SECRETS_MAX_AGE_SECONDS", " 60 ")
    settings.setenv("AWS_READ_TIMEOUT_SECONDS", "2.5")
    settings.setenv("OUTBOUND_TIMEOUT_SECONDS", "3")
    settings.setenv("ALLOWED_ORIGINS", " https://a.example , ,https://b.example ")
    settings.setenv("GITHUB_API_URL", " http://127.0.0.1:9/ ")
    read = _read()
    assert (read.stage, read.table_prefix, read.kms_key_id) == ("prod", "keyport-prod", "alias/keyport-prod")
    assert read.operator_secret_arn == "arn:aws:secretsmanager:us-east-1:1:secret:op"
    assert read.local is True and read.allow_http_loopback is True
    assert (read.secrets_max_age_seconds, read.aws_read_timeout_seconds) == (60, 2.5)
    assert read.outbound_timeout_seconds == 3.0
    assert read.allowed_origins == ("https://a.example", "https://b.example")
    assert read.github_api_url == "http://127.0.0.1:9"


def test_a_malformed_number_is_refused(settings: pytest.MonkeyPatch) -> None:
    settings.setenv("AWS_MAX_ATTEMPTS", "three")
    with pytest.raises(ValueError):
        _read()
