"""The scheduled refresh sweep over many stored authentications, against a token endpoint with latency.

Fills moto with BENCH_DUE authentications due for a refresh and BENCH_NOT_DUE that are not (written
directly with PynamoDB batch writes, payloads sealed as the service seals them), runs
``chalicelib.jobs.refresh_sweep.run`` against a local token endpoint that answers each refresh after
BENCH_LATENCY_MS, and prints the wall time, the provider calls and the DynamoDB work. The sweep's
deadline is BENCH_DEADLINE_MS after it starts (default 900 000: the longest a Lambda may run).
Figures are in-process moto: its per-call cost is CPU under the GIL, unlike DynamoDB's network latency.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.in_process import set_environment

set_environment(ALLOW_HTTP_LOOPBACK="1")

DUE = int(os.environ.get("BENCH_DUE", "10000"))
NOT_DUE = int(os.environ.get("BENCH_NOT_DUE", "90000"))
LATENCY_MS = int(os.environ.get("BENCH_LATENCY_MS", "50"))
DEADLINE_MS = int(os.environ.get("BENCH_DEADLINE_MS", "900000"))
INTEGRATION = "bench-provider"


class _TokenEndpoint(BaseHTTPRequestHandler):
    """Answers every refresh_token grant after the configured latency, with a new access token."""

    calls = 0
    abandoned = 0  # answers the client no longer waited for (its timeout passed first)
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(LATENCY_MS / 1000)
        with _TokenEndpoint.lock:
            _TokenEndpoint.calls += 1
        body = json.dumps({"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 3600})
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())
        except (BrokenPipeError, ConnectionResetError):
            with _TokenEndpoint.lock:
                _TokenEndpoint.abandoned += 1

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def token_endpoint() -> Iterator[str]:
    """A threaded local token endpoint; its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    server.daemon_threads = True
    server.request_queue_size = 128
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/token"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def counting_dynamodb() -> Iterator[dict[str, Any]]:
    """Counts AWS calls by operation, and the items DynamoDB queries read (their ScannedCount)."""
    from botocore.client import BaseClient

    figures: dict[str, Any] = {"calls": Counter(), "query_items": 0}
    lock = threading.Lock()
    original = BaseClient._make_api_call

    def counted(self: Any, operation_name: str, api_params: Any) -> Any:
        result = original(self, operation_name, api_params)
        with lock:
            figures["calls"][f"{self.meta.service_model.service_name}.{operation_name}"] += 1
            if operation_name == "Query":
                figures["query_items"] += int(result.get("ScannedCount", result.get("Count", 0)))
        return result

    BaseClient._make_api_call = counted
    try:
        yield figures
    finally:
        BaseClient._make_api_call = original


def fill(token_url: str) -> tuple[list[str], float]:
    """Store the integration, one configuration and the authentications; the due ids and the seconds taken."""
    from chalicelib.crypto import seal_json
    from chalicelib.http import now_ms
    from chalicelib.integrations import repository
    from chalicelib.integrations.models import Authentication
    from chalicelib.integrations.payload import AUTHENTICATION_PURPOSE
    from chalicelib.oauth.due import buffer_ms, due_fields
    from chalicelib.oauth.models import Configuration
    from chalicelib.oauth.providers import CONFIGURATION_PURPOSE

    started = time.perf_counter()
    now = now_ms()
    definition = {
        "name": "Bench provider",
        "auth": {"authType": "OAUTH2", "authorizationURL": token_url, "tokenURL": token_url},
        "request": {"baseURL": "http://127.0.0.1/"},
    }
    repository.put_custom_integration(INTEGRATION, definition, now)
    setup_id = "bench-setup"
    credentials = {"clientId": "bench-client", "clientSecret": "bench-client-secret"}
    Configuration(
        setup_id,
        integration=INTEGRATION,
        created_at=now,
        updated_at=now,
        scopes=[],
        credentials=seal_json(credentials, purpose=CONFIGURATION_PURPOSE, record=setup_id),
    ).save()
    buffer = buffer_ms(definition)
    rng = random.Random(7)
    due_ids: list[str] = []
    with Authentication.batch_write() as batch:
        for n in range(DUE + NOT_DUE):
            auth_id = f"bench-{n:07d}"
            due = n < DUE
            # Due: expires within the window plus the buffer (5 to 20 minutes); not due: in 1 to 24 hours.
            lifetime_ms = rng.randint(5 * 60_000, 20 * 60_000) if due else rng.randint(3_600_000, 86_400_000)
            payload = {
                "accessToken": f"access-{n}",
                "refreshToken": f"refresh-{n}",
                "expiresIn": 3600,
                "updatedAt": now,
            }
            item = Authentication(
                auth_id,
                integration=INTEGRATION,
                setup_id=setup_id,
                created_at=now,
                updated_at=now,
                payload=seal_json(payload, purpose=AUTHENTICATION_PURPOSE, record=auth_id),
                expires_at=now + lifetime_ms,
            )
            item.due_shard, item.refresh_due_at = due_fields(auth_id, True, now + lifetime_ms, buffer)
            batch.save(item)
            if due:
                due_ids.append(auth_id)
    return due_ids, time.perf_counter() - started


def main() -> None:
    from moto import mock_aws

    from chalicelib import aws, crypto
    from chalicelib.jobs import refresh_sweep
    from chalicelib.settings import clear_settings

    clear_settings()
    with mock_aws(), token_endpoint() as token_url:
        aws.reset()
        crypto.keyring.clear()
        from infra.local.bootstrap import bootstrap

        bootstrap()
        _, fill_seconds = fill(token_url)
        kms_before = crypto.keyring.kms_calls
        _TokenEndpoint.calls = 0
        started = time.perf_counter()

        def remaining_ms() -> int:
            return int(DEADLINE_MS - (time.perf_counter() - started) * 1000)

        with counting_dynamodb() as figures:
            report = refresh_sweep.run(remaining_ms)
        wall = time.perf_counter() - started
        kms_calls = crypto.keyring.kms_calls - kms_before

    calls: Counter[str] = figures["calls"]
    dynamodb = {name.split(".", 1)[1]: count for name, count in sorted(calls.items()) if name.startswith("dynamodb.")}
    queries = dynamodb.get("Query", 0)
    per_refresh_ops = {op: count for op, count in dynamodb.items() if op != "Query"}
    started_refreshes = report.refreshed + report.skipped + report.failed
    print(f"\nRefresh sweep: {DUE} due + {NOT_DUE} not due authentications, token endpoint {LATENCY_MS} ms, moto")
    print(f"  filling moto (batch writes, sealed payloads): {fill_seconds:.1f} s")
    print(f"  sweep wall time:            {wall:.1f} s ({started_refreshes / wall:.0f} refreshes/s)")
    print(f"  report:                     {report.as_dict()}")
    print(
        f"  provider calls:             {_TokenEndpoint.calls} (due: {DUE}; answers abandoned by a client timeout: "
        f"{_TokenEndpoint.abandoned})"
    )
    print(f"  due-index queries:          {queries}, items read by them: {figures['query_items']}")
    print(f"  Scan calls:                 {dynamodb.get('Scan', 0)}")
    print(f"  other DynamoDB calls:       {sum(per_refresh_ops.values())} {per_refresh_ops}")
    if started_refreshes:
        each = {op: round(count / started_refreshes, 2) for op, count in per_refresh_ops.items()}
        print(f"  DynamoDB calls per refresh: {sum(per_refresh_ops.values()) / started_refreshes:.2f} {each}")
    print(f"  KMS calls during the sweep: {kms_calls}")


if __name__ == "__main__":
    main()
