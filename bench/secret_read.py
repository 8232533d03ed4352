"""The server's keys read from Secrets Manager: what a cold start pays, against a moto server over HTTP.

Each run is a fresh interpreter with botocore already imported (every function imports it anyway, for
DynamoDB): the first ``operator_keys()`` and ``hash_key()`` (the client made, two GetSecretValue
calls), then the same again (cached), both as the process's first AWS client and after a DynamoDB one.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "7"))

PROBE = """
import sys, time
import botocore.session, botocore.client
from chalicelib import aws, secret_keys
if sys.argv[1] == "after-dynamodb":
    aws.client("dynamodb")  # what a function has made by then: the SDK's loaders and credentials are warm
t = time.perf_counter(); aws.client("secretsmanager"); made = time.perf_counter() - t
t = time.perf_counter(); keys = secret_keys.operator_keys(); secret_keys.hash_key(); cold = time.perf_counter() - t
t = time.perf_counter(); secret_keys.operator_keys(); secret_keys.hash_key(); warm = time.perf_counter() - t
assert keys, "no key read"
print(made * 1000, cold * 1000, warm * 1000)
"""


def main() -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "STAGE": "bench",
    }
    env.pop("SECRET_KEY", None)
    try:
        import botocore.session

        client = botocore.session.get_session().create_client(
            "secretsmanager",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        operator = client.create_secret(Name="bench-operator", SecretString=json.dumps({"current": "k" * 48}))
        hashing = client.create_secret(Name="bench-hash", SecretString="h" * 64)
        env["OPERATOR_SECRET_ARN"], env["HASH_KEY_SECRET_ARN"] = operator["ARN"], hashing["ARN"]
        figures: dict[str, tuple[list[float], list[float], list[float]]] = {}
        for case in ("first-client", "after-dynamodb"):
            mades, colds, warms = figures.setdefault(case, ([], [], []))
            for _ in range(RUNS):
                out = subprocess.run(
                    [sys.executable, "-c", PROBE, case], cwd=ROOT, env=env, capture_output=True, text=True, check=True
                )
                made, cold, warm = (float(v) for v in out.stdout.split())
                mades.append(made)
                colds.append(cold)
                warms.append(warm)
    finally:
        server.stop()
    print(f"Server keys from Secrets Manager (moto server over HTTP), median of {RUNS} fresh interpreters")
    labels = {"first-client": "as the process's first AWS client", "after-dynamodb": "after a DynamoDB client"}
    for case, (mades, colds, warms) in figures.items():
        print(f"  Secrets Manager client made, {labels[case]}: {statistics.median(mades):7.1f} ms")
        print(f"  then two GetSecretValue calls, {labels[case]}: {statistics.median(colds):7.1f} ms")
        print(f"  cached reads of both, {labels[case]}: {statistics.median(warms) * 1000:7.1f} µs")


if __name__ == "__main__":
    main()
