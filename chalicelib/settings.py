"""Typed settings, read from the environment once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


def _text(name: str, default: str = "") -> str:
    """A string setting. Every reader below goes through this one: blanks stripped, empty means the default."""
    return os.environ.get(name, "").strip() or default


def _optional(name: str) -> str | None:
    return _text(name) or None


def _flag(name: str, default: bool = False) -> bool:
    value = _text(name)
    return value.lower() in {"1", "true", "yes", "on"} if value else default


def _int(name: str, default: int) -> int:
    value = _text(name)
    return int(value) if value else default


def _float(name: str, default: float) -> float:
    value = _text(name)
    return float(value) if value else default


def _list(name: str) -> tuple[str, ...]:
    """A comma-separated setting, blank items dropped."""
    return tuple(item.strip() for item in _text(name).split(",") if item.strip())


def _region() -> str:
    return _text("AWS_REGION") or _text("AWS_DEFAULT_REGION", "us-east-1")


@dataclass(frozen=True)
class Settings:
    """Everything Keyport reads from its environment."""

    stage: str
    region: str
    table_prefix: str
    kms_key_id: str
    aws_endpoint_url: str | None
    secret_key: str | None
    publishable_key: str | None
    local: bool
    allow_http_loopback: bool
    max_body_bytes: int
    public_url: str | None
    callback_url: str | None
    refresh_buffer_seconds: int
    outbound_timeout_seconds: float
    data_key_max_age_seconds: int
    data_key_max_uses: int
    hash_key: bytes
    allowed_origins: tuple[str, ...]
    lambda_endpoint_url: str | None
    websocket_management_url: str | None
    function_prefix: str
    github_api_url: str
    github_recheck_seconds: int
    # Publishing (Autotune): where builds go, the URLs they are served from, where blueprints may come from.
    publish_bucket: str = ""
    preview_base_url: str = ""
    publish_base_url: str = ""
    allow_local_repos: bool = False
    build_timeout_seconds: int = 600
    # Entity store (platform API): session and token lifetimes, login lockout, Engine.IO heartbeat.
    session_ttl_seconds: int = 86400
    token_ttl_seconds: int = 86400
    login_max_failures: int = 5
    login_lockout_seconds: int = 60
    engineio_ping_interval_ms: int = 25000
    engineio_ping_timeout_ms: int = 60000
    # Deployed, the server's keys come from Secrets Manager (chalicelib/secret_keys.py); these name them.
    operator_secret_arn: str | None = None
    hash_key_secret_arn: str | None = None
    secret_key_previous: str | None = None  # a second valid operator key during a rotation (no ARN)
    secrets_max_age_seconds: int = 300
    # Deadlines: every request answers within API Gateway's 29 s; AWS calls get their timeouts from what is left.
    request_deadline_seconds: float = 25.0
    aws_connect_timeout_seconds: float = 2.0
    aws_read_timeout_seconds: float = 5.0
    aws_max_attempts: int = 3
    # A forced refresh within this many seconds of the last successful one returns that one.
    refresh_coalesce_seconds: int = 10
    # Parallel worker invocations the refresh sweep hands the due index's shards to (0: refresh in the sweep).
    refresh_sweep_workers: int = 4
    # How long an Idempotency-Key's first response is kept and replayed.
    idempotency_ttl_seconds: int = 86400

    def table_name(self, name: str) -> str:
        """The DynamoDB table name of one aggregate, with the stage prefix."""
        return f"{self.table_prefix}-{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    stage = _text("STAGE", "dev")
    return Settings(
        stage=stage,
        region=_region(),
        table_prefix=_text("TABLE_PREFIX", f"keyport-{stage}"),
        kms_key_id=_text("KMS_KEY_ID", f"alias/keyport-{stage}"),
        aws_endpoint_url=_optional("AWS_ENDPOINT_URL"),
        secret_key=_optional("SECRET_KEY"),
        publishable_key=_optional("PUBLISHABLE_KEY"),
        local=_flag("KEYPORT_LOCAL"),
        allow_http_loopback=_flag("ALLOW_HTTP_LOOPBACK") or _flag("KEYPORT_LOCAL"),
        max_body_bytes=_int("MAX_BODY_BYTES", 1024 * 1024),
        public_url=_optional("PUBLIC_URL"),
        callback_url=_optional("CALLBACK_URL"),
        refresh_buffer_seconds=_int("REFRESH_BUFFER_SECONDS", 15 * 60),
        outbound_timeout_seconds=_float("OUTBOUND_TIMEOUT_SECONDS", 10.0),
        data_key_max_age_seconds=_int("DATA_KEY_MAX_AGE_SECONDS", 300),
        data_key_max_uses=_int("DATA_KEY_MAX_USES", 1000),
        hash_key=_hash_key(),
        lambda_endpoint_url=_optional("LAMBDA_ENDPOINT_URL"),
        websocket_management_url=_optional("WEBSOCKET_MANAGEMENT_URL"),
        function_prefix=_text("FUNCTION_PREFIX", f"keyport-{stage}-"),
        allowed_origins=_list("ALLOWED_ORIGINS"),
        github_api_url=_text("GITHUB_API_URL", "https://api.github.com").rstrip("/"),
        github_recheck_seconds=_int("GITHUB_RECHECK_SECONDS", 3600),
        publish_bucket=_publish_bucket(stage),
        preview_base_url=_publish_url("PREVIEW_BASE_URL", stage, "preview"),
        publish_base_url=_publish_url("PUBLISH_BASE_URL", stage, "publish"),
        allow_local_repos=_flag("ALLOW_LOCAL_REPOS", default=_flag("KEYPORT_LOCAL")),
        build_timeout_seconds=_int("BUILD_TIMEOUT_SECONDS", 600),
        session_ttl_seconds=_int("SESSION_TTL_SECONDS", 86400),
        token_ttl_seconds=_int("TOKEN_TTL_SECONDS", 86400),
        login_max_failures=_int("LOGIN_MAX_FAILURES", 5),
        login_lockout_seconds=_int("LOGIN_LOCKOUT_SECONDS", 60),
        engineio_ping_interval_ms=_int("ENGINEIO_PING_INTERVAL_MS", 25000),
        engineio_ping_timeout_ms=_int("ENGINEIO_PING_TIMEOUT_MS", 60000),
        operator_secret_arn=_optional("OPERATOR_SECRET_ARN"),
        hash_key_secret_arn=_optional("HASH_KEY_SECRET_ARN"),
        secret_key_previous=_optional("SECRET_KEY_PREVIOUS"),
        secrets_max_age_seconds=_int("SECRETS_MAX_AGE_SECONDS", 300),
        request_deadline_seconds=_float("REQUEST_DEADLINE_SECONDS", 25.0),
        aws_connect_timeout_seconds=_float("AWS_CONNECT_TIMEOUT_SECONDS", 2.0),
        aws_read_timeout_seconds=_float("AWS_READ_TIMEOUT_SECONDS", 5.0),
        aws_max_attempts=max(1, _int("AWS_MAX_ATTEMPTS", 3)),
        refresh_coalesce_seconds=_int("REFRESH_COALESCE_SECONDS", 10),
        refresh_sweep_workers=_int("REFRESH_SWEEP_WORKERS", 4),
        idempotency_ttl_seconds=_int("IDEMPOTENCY_TTL_SECONDS", 86400),
    )


def _publish_bucket(stage: str) -> str:
    return _text("PUBLISH_BUCKET", f"keyport-{stage}-publish")


def _publish_url(name: str, stage: str, prefix: str) -> str:
    """A publishing base URL: the setting, else the bucket's own S3 URL (the local endpoint's, locally)."""
    explicit = _optional(name)
    if explicit:
        return explicit.rstrip("/")
    bucket = _publish_bucket(stage)
    endpoint = _optional("AWS_ENDPOINT_URL")
    region = _region()
    bucket_url = f"{endpoint.rstrip('/')}/{bucket}" if endpoint else f"https://{bucket}.s3.{region}.amazonaws.com"
    return f"{bucket_url}/{prefix}"


def _hash_key() -> bytes:
    """The key of keyed hashes (HASH_KEY, else derived from SECRET_KEY; rotating it only forces re-checks)."""
    import hashlib

    explicit = _text("HASH_KEY")
    if explicit:
        return explicit.encode()
    return hashlib.sha256(b"keyport-hash-key|" + os.environ.get("SECRET_KEY", "").encode()).digest()


def clear_settings() -> None:
    """Forget the cached settings (tests change the environment)."""
    get_settings.cache_clear()
