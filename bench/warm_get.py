"""AWS calls and latency of a warm GET of an authentication (goal: one DynamoDB read, no KMS call)."""

from __future__ import annotations

import base64
import json
import os
import statistics
import time

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "STAGE": "bench",
        "SECRET_KEY": "bench-secret-key",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)

from bench.calls import counting_aws_calls

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "200"))


def main() -> None:
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib import aws, crypto
    from chalicelib.settings import clear_settings

    clear_settings()
    with mock_aws():
        aws.reset()
        from infra.local.bootstrap import bootstrap

        bootstrap()
        from app import app

        auth = {"Authorization": "Basic " + base64.b64encode(b"bench-secret-key:").decode()}
        with Client(app) as client:
            body = json.dumps({"credentials": {"clientId": "bench-client-id", "clientSecret": "bench-client-secret"}})
            setup = json.loads(client.http.post("/api/github/configurations", headers=auth, body=body).body)
            payload = {"accessToken": "a" * 40, "refreshToken": "r" * 40, "expiresIn": 3600}
            created = client.http.post(
                "/api/github/authentications",
                headers=auth,
                body=json.dumps({"setup_id": setup["configuration"]["id"], "payload": payload}),
            )
            auth_id = json.loads(created.body)["authentication"]["id"]
            path = f"/api/github/authentications/{auth_id}"
            client.http.get(path, headers=auth)  # warm: first read fills the key cache
            kms_before = crypto.keyring.kms_calls
            with counting_aws_calls() as calls:
                response = client.http.get(path, headers=auth)
            assert response.status_code == 200, response.body
            timings = []
            for _ in range(REQUESTS):
                start = time.perf_counter()
                client.http.get(path, headers=auth)
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
