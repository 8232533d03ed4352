"""The server's own keys: the operator secret key(s), the publishable key and the hash key.

Deployed, they live in AWS Secrets Manager and the functions get only the secrets' ARNs
(``OPERATOR_SECRET_ARN``: ``{"current", "previous", "publishable"}``; ``HASH_KEY_SECRET_ARN``: the
hash key as a string). Each is read on first use and kept for ``SECRETS_MAX_AGE_SECONDS``, so a cold
start pays one ``GetSecretValue`` and a rotation reaches warm functions within that time. Without
ARNs (the local stack, tests), the plain settings are used: ``SECRET_KEY``, ``SECRET_KEY_PREVIOUS``,
``PUBLISHABLE_KEY``, ``HASH_KEY``.

During a rotation both ``current`` and ``previous`` open the operator routes (docs/deploy.md).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from chalicelib.errors import ServiceUnavailable
from chalicelib.settings import get_settings

log = logging.getLogger("keyport.secrets")

_lock = threading.Lock()
_cache: dict[str, tuple[float, str]] = {}  # ARN -> (read at, monotonic; secret string)


def _read(arn: str) -> str:
    """The secret's string, cached for ``secrets_max_age_seconds``; a stale copy outlives a failed re-read."""
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib import aws

    max_age = get_settings().secrets_max_age_seconds
    cached = _cache.get(arn)
    if cached is not None and time.monotonic() - cached[0] < max_age:
        return cached[1]
    with _lock:
        cached = _cache.get(arn)
        if cached is not None and time.monotonic() - cached[0] < max_age:
            return cached[1]
        try:
            value = str(aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
        except (BotoCoreError, ClientError, KeyError) as e:
            if cached is not None:
                log.warning("secret %s could not be re-read (%s); keeping the copy read before", arn, type(e).__name__)
                _cache[arn] = (time.monotonic(), cached[1])
                return cached[1]
            log.error("secret %s could not be read: %s", arn, type(e).__name__)
            raise ServiceUnavailable("The server's keys cannot be read right now; try again shortly.") from e
        _cache[arn] = (time.monotonic(), value)
        return value


def _operator_secret(arn: str) -> dict[str, Any]:
    try:
        document = json.loads(_read(arn))
    except ValueError:
        document = None
    if not isinstance(document, dict):
        log.error("secret %s is not a JSON object with a 'current' key", arn)
        return {}
    return document


def operator_keys() -> tuple[str, ...]:
    """The operator secret keys that are valid now: the current one, and the previous one during a rotation."""
    settings = get_settings()
    if settings.operator_secret_arn:
        document = _operator_secret(settings.operator_secret_arn)
        keys = (document.get("current"), document.get("previous"))
    else:
        keys = (settings.secret_key, settings.secret_key_previous)
    return tuple(k for k in keys if isinstance(k, str) and k)


def publishable_key() -> str | None:
    """The publishable key that connect flows must present, or None when none is required."""
    settings = get_settings()
    if settings.operator_secret_arn:
        value = _operator_secret(settings.operator_secret_arn).get("publishable")
        return value if isinstance(value, str) and value else None
    return settings.publishable_key


def hash_key() -> bytes:
    """The key of keyed hashes."""
    settings = get_settings()
    if settings.hash_key_secret_arn:
        return _read(settings.hash_key_secret_arn).encode()
    return settings.hash_key


def forget() -> None:
    """Drop the cached secrets (tests)."""
    with _lock:
        _cache.clear()
