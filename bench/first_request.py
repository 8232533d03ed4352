"""First request of a fresh process, against the emulator, beside the SDK floor.

What a user waits for on a cold Lambda is the import of the app plus its first request. Each sample
is a fresh interpreter: either the app (``import app`` and one REST proxy event through it) or the
floor (``chalice.app``, ``pynamodb.models`` and AESGCM imported, then one DynamoDB GetItem and one
KMS Decrypt with botocore), run alternately so that the machine's noise falls on both alike. The
figure is the median of the per-pair ratios.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
SECRET = "bench-secret-key"

FLOOR = """
import time
t = time.perf_counter()
import chalice.app, pynamodb.models
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
import botocore.session, os
session = botocore.session.get_session()
endpoint = os.environ["AWS_ENDPOINT_URL"]
ddb = session.create_client("dynamodb", endpoint_url=endpoint)
kms = session.create_client("kms", endpoint_url=endpoint)
ddb.get_item(TableName=os.environ["BENCH_TABLE"], Key=json.loads(os.environ["BENCH_KEY"]))
kms.decrypt(CiphertextBlob=base64.b64decode(os.environ["BENCH_BLOB"]))
print((time.perf_counter() - t) * 1000)
"""

APP = """
import time
t = time.perf_counter()
import app as keyport
class Context:
    function_name = "keyport-bench"
    aws_request_id = "bench"
    def get_remaining_time_in_millis(self): return 25000
response = keyport.app(json.loads(os.environ["BENCH_EVENT"]), Context())
assert response["statusCode"] == 200, response
print((time.perf_counter() - t) * 1000)
"""


def rest_event(path: str, resource: str, params: dict[str, str]) -> dict[str, Any]:
    """The REST proxy event API Gateway sends for an authenticated GET of ``path``."""
    auth = "Basic " + base64.b64encode(f"{SECRET}:".encode()).decode()
    headers = {"Authorization": auth, "Accept": "application/json", "Host": "bench.local"}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": params,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "GET",
            "path": f"/api{path}",
            "stage": "api",
            "requestId": "bench",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


def _sample(code: str, env: dict[str, str]) -> float:
    command = [sys.executable, "-c", "import base64, json, os\n" + code]
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1])


def _prepare() -> tuple[Any, dict[str, str]]:
    """Start the emulator, create the tables and one stored authentication; the env of the samples."""
    import logging

    from infra.local.stack import configure_environment

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    emulator, _stack = configure_environment(port=0, host="127.0.0.1")
    os.environ["SECRET_KEY"] = SECRET
    from chalice.test import Client

    from chalicelib import aws
    from chalicelib.settings import clear_settings

    clear_settings()
    aws.reset()
    from infra.local.bootstrap import bootstrap

    bootstrap()
    from app import app
    from chalicelib.integrations.models import Authentication

    headers = {"Authorization": "Basic " + base64.b64encode(f"{SECRET}:".encode()).decode()}
    with Client(app) as client:
        body = json.dumps({"credentials": {"clientId": "bench-client", "clientSecret": "bench-secret"}})
        setup = json.loads(client.http.post("/api/github/configurations", headers=headers, body=body).body)
        payload = {"accessToken": "a" * 40, "refreshToken": "r" * 40, "expiresIn": 3600}
        created = client.http.post(
            "/api/github/authentications",
            headers=headers,
            body=json.dumps({"setup_id": setup["configuration"]["id"], "payload": payload}),
        )
    auth_id = json.loads(created.body)["authentication"]["id"]
    from chalicelib.settings import get_settings

    blob = aws.client("kms").encrypt(KeyId=get_settings().kms_key_id, Plaintext=b"x" * 32)
    table = Authentication.Meta.table_name
    key = {"id": {"S": auth_id}}
    event = rest_event(
        f"/api/github/authentications/{auth_id}",
        "/api/{integration}/authentications/{auth_id}",
        {"integration": "github", "auth_id": auth_id},
    )
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "0",
        "BENCH_TABLE": table,
        "BENCH_KEY": json.dumps(key),
        "BENCH_BLOB": base64.b64encode(blob["CiphertextBlob"]).decode(),
        "BENCH_EVENT": json.dumps(event),
    }
    return emulator, env


def _restore(environment: dict[str, str]) -> None:
    """Put the process environment back as it was, and drop settings and clients that read the emulator's."""
    from chalicelib import aws
    from chalicelib.settings import clear_settings

    os.environ.clear()
    os.environ.update(environment)
    clear_settings()
    aws.reset()


def main() -> None:
    # The emulator's environment must not outlive it: the benchmarks after this one run against moto's mock.
    environment = dict(os.environ)
    try:
        emulator, env = _prepare()
    except BaseException:
        _restore(environment)
        raise
    try:
        floors, apps, ratios = [], [], []
        _sample(FLOOR, env), _sample(APP, env)  # warm the file cache and the bytecode
        for _ in range(RUNS):
            floor = _sample(FLOOR, env)
            first = _sample(APP, env)
            floors.append(floor)
            apps.append(first)
            ratios.append(first / floor)
    finally:
        emulator.stop()
        _restore(environment)
    print(f"First request of a fresh process against the emulator, median of {RUNS} alternating pairs")
    print(f"  floor (imports + GetItem + KMS Decrypt)   {statistics.median(floors):8.1f} ms")
    print(f"  GET /api/github/authentications/{{id}}     {statistics.median(apps):8.1f} ms")
    print(f"  ratio to the floor                         {statistics.median(ratios):8.2f}x  (goal <= 1.15x)")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"  ({time.perf_counter() - started:.0f} s)")
