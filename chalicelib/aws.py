"""Lazily created AWS clients and DynamoDB table bindings.

Nothing here talks to AWS at import time. Clients come from botocore directly (boto3 would pull in
s3transfer at import), are created on first use, cached per process, and honour the one local
endpoint setting. Tests call :func:`reset` after starting a moto mock so no client escapes it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from chalicelib import deadline
from chalicelib.settings import get_settings

if TYPE_CHECKING:  # pragma: no cover
    from botocore.client import BaseClient
    from botocore.session import Session

# Every AWS service Keyport calls (PynamoDB's DynamoDB included): the Lambda package ships botocore's models
# of these only (infra/package_zip.py), and tests/unit/test_package_zip.py finds every client the code makes here.
SERVICES = frozenset({"apigatewaymanagementapi", "dynamodb", "kms", "lambda", "s3", "secretsmanager"})

# Connections kept per client. Every thread of the process shares one client per service (the refresh
# sweep runs 16), where PynamoDB gave each table a client of its own with 10.
POOL_CONNECTIONS = 32

_lock = threading.Lock()
_clients: dict[str, BaseClient] = {}
_injected: dict[str, Any] = {}
_session: Session | None = None  # made by the first client, under _lock (botocore sessions are not thread-safe)
_metas: list[type] = []


def client(service: str) -> Any:
    """A cached botocore client for ``service`` ("kms", "s3", "lambda", ...)."""
    if service in _injected:
        return _injected[service]
    cached = _clients.get(service)
    if cached is not None:
        return cached
    with _lock:
        cached = _clients.get(service)
        if cached is None:
            cached = _make_client(service)
            _clients[service] = cached
    return cached


def _make_client(service: str, endpoint_url: str | None = None) -> BaseClient:
    import botocore.session
    from botocore.config import Config

    if service not in SERVICES:
        raise ValueError(f"{service} is not in aws.SERVICES: the Lambda package would not ship its model")
    global _session
    settings = get_settings()
    deadline.install()  # before the session: its built-in handlers are copied when it is created
    if _session is None:
        # One session for every client: one loader, so botocore's endpoints and models are read once per process.
        _session = botocore.session.get_session()
    session = _session
    if service == "lambda" and endpoint_url is None:
        endpoint_url = settings.lambda_endpoint_url  # locally: the gateway emulates Invoke
    # Small timeouts and few attempts; on a request path each attempt is bounded by the deadline too.
    # The DynamoDB client serves every PynamoDB table (chalicelib.dynamo.Model): like PynamoDB's own clients,
    # it leaves validation to DynamoDB (PynamoDB builds the requests) instead of walking each one first.
    config = Config(
        connect_timeout=settings.aws_connect_timeout_seconds,
        read_timeout=settings.aws_read_timeout_seconds,
        retries={"mode": "standard", "max_attempts": settings.aws_max_attempts},
        user_agent_extra="keyport",
        parameter_validation=service != "dynamodb",
        max_pool_connections=POOL_CONNECTIONS,
    )
    return session.create_client(
        service,
        region_name=settings.region,
        endpoint_url=endpoint_url or settings.aws_endpoint_url,
        config=config,
    )


def management_client(endpoint_url: str) -> Any:
    """An API Gateway management API client for one websocket endpoint (cached per endpoint)."""
    key = f"apigatewaymanagementapi:{endpoint_url}"
    if "apigatewaymanagementapi" in _injected:
        return _injected["apigatewaymanagementapi"]
    with _lock:
        cached = _clients.get(key)
        if cached is None:
            cached = _make_client("apigatewaymanagementapi", endpoint_url)
            _clients[key] = cached
    return cached


def inject(service: str, instance: Any) -> None:
    """Use ``instance`` for ``service`` instead of a real client (tests)."""
    _injected[service] = instance


def table_meta(aggregate: str, *, ttl_attribute: str | None = None) -> Any:
    """A PynamoDB ``Meta`` class for one aggregate's table, bound to the current settings.

    ``ttl_attribute`` names the model's TTL attribute, which the local stack and the CloudFormation
    template enable on the table.
    """
    attributes = {"aggregate": aggregate, "billing_mode": "PAY_PER_REQUEST", "ttl_attribute": ttl_attribute}
    meta = type("Meta", (), attributes)
    _bind(meta)
    _metas.append(meta)
    return meta


def _bind(meta: Any) -> None:
    settings = get_settings()
    deadline.install()  # PynamoDB makes its botocore sessions later, on first use: they get the hooks
    meta.table_name = settings.table_name(meta.aggregate)
    meta.region = settings.region
    meta.host = settings.aws_endpoint_url
    meta.connect_timeout_seconds = settings.aws_connect_timeout_seconds
    meta.read_timeout_seconds = settings.aws_read_timeout_seconds
    meta.max_retry_attempts = settings.aws_max_attempts - 1  # PynamoDB counts retries, botocore attempts


def reset() -> None:
    """Drop every cached client and table connection, and rebind tables to the current settings."""
    global _session
    with _lock:
        _clients.clear()
        _injected.clear()
        _session = None
    for meta in _metas:
        _bind(meta)
    if _metas:
        from pynamodb.models import Model

        pending = list(Model.__subclasses__())
        while pending:
            model = pending.pop()
            model._connection = None
            pending.extend(model.__subclasses__())


def all_models() -> list[Any]:
    """Every PynamoDB model class Keyport defines (importing each service's models)."""
    import importlib
    import pkgutil

    from pynamodb.models import Model

    import chalicelib

    for module in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
        if module.name.endswith(".models"):
            importlib.import_module(module.name)
    found: list[Any] = []
    pending = list(Model.__subclasses__())
    while pending:
        model = pending.pop()
        if getattr(getattr(model, "Meta", None), "aggregate", None):  # not chalicelib.dynamo.Model itself
            found.append(model)
        pending.extend(model.__subclasses__())
    return sorted(found, key=lambda m: m.Meta.table_name)
