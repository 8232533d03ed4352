"""AWS calls and latency of a warm GET of an authentication (goal: one DynamoDB read, no KMS call)."""

from __future__ import annotations

import json
import os
import statistics
import time

from bench.calls import counting_aws_calls
from bench.in_process import OPERATOR, app_client, set_environment

set_environment()

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "200"))


def main() -> None:
    from chalicelib import crypto

    with app_client() as client:
        body = json.dumps({"credentials": {"clientId": "bench-client-id", "clientSecret": "bench-client-secret"}})
        setup = json.loads(client.http.post("/api/github/configurations", headers=OPERATOR, body=body).body)
        payload = {"accessToken": "a" * 40, "refreshToken": "r" * 40, "expiresIn": 3600}
        created = client.http.post(
            "/api/github/authentications",
            headers=OPERATOR,
            body=json.dumps({"setup_id": setup["configuration"]["id"], "payload": payload}),
        )
        auth_id = json.loads(created.body)["authentication"]["id"]
        path = f"/api/github/authentications/{auth_id}"
        client.http.get(path, headers=OPERATOR)  # warm: first read fills the key cache
        kms_before = crypto.keyring.kms_calls
        with counting_aws_calls() as calls:
            response = client.http.get(path, headers=OPERATOR)
        assert response.status_code == 200, response.body
        timings = []
        for _ in range(REQUESTS):
            start = time.perf_counter()
            client.http.get(path, headers=OPERATOR)
            timings.append((time.perf_counter() - start) * 1000)
    print("Warm GET /api/github/authentications/{authId} against moto")
    print(f"  AWS calls of one warm request: {dict(calls) or 'none'}")
    print(f"  KMS calls by the key ring:     {crypto.keyring.kms_calls - kms_before}")
    print(
        f"  latency over {REQUESTS} requests: median {statistics.median(timings):.2f} ms, "
        f"p95 {sorted(timings)[int(len(timings) * 0.95) - 1]:.2f} ms (in-process, moto)"
    )


if __name__ == "__main__":
    main()
