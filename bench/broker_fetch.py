"""AWS calls and latency of a warm runtime credential fetch (goal: two DynamoDB reads, no KMS call)."""

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

        def call(method: str, path: str, headers: dict[str, str], body: object = None) -> dict[str, object]:
            data = json.dumps(body) if body is not None else ""
            response = client.http.request(
                method, path, headers={**headers, "Content-Type": "application/json"}, body=data
            )
            assert response.status_code in (200, 201), response.body
            return dict(json.loads(response.body))

        customer = call("POST", "/admin/customers", OPERATOR, {"name": "Bench Co"})
        instance = call("POST", f"/admin/customers/{customer['id']}/instances", OPERATOR, {"name": "agent"})
        as_customer = {"Authorization": f"Bearer {customer['api_key']}"}
        connection = call(
            "POST",
            f"/v1/customers/{customer['id']}/connections",
            as_customer,
            {
                "name": "admin@example.com",
                "provider": "gmail",
                "credentials": {"access_token": "a" * 40, "expires_in": 86400},
            },
        )
        call(
            "POST",
            f"/v1/customers/{customer['id']}/connections/{connection['id']}/grants",
            as_customer,
            {"capabilities": ["send_mail"], "instance_id": instance["id"]},
        )
        path = f"/internal/v1/instances/{instance['id']}/connections?provider=gmail&capability=send_mail"
        as_instance = {"Authorization": f"Bearer {instance['proxy_key']}"}
        call("GET", path, as_instance)  # warm: the first fetch fills the key cache
        kms_before = crypto.keyring.kms_calls
        with counting_aws_calls() as calls:
            call("GET", path, as_instance)
        timings = []
        for _ in range(REQUESTS):
            start = time.perf_counter()
            client.http.get(path, headers=as_instance)
            timings.append((time.perf_counter() - start) * 1000)
    reads = {k: v for k, v in calls.items() if k.split(".")[1] in ("GetItem", "Query", "BatchGetItem", "Scan")}
    print("Warm GET /internal/v1/instances/{instance_id}/connections (runtime fetch) against moto")
    print(f"  AWS calls of one warm fetch:   {dict(calls) or 'none'}")
    print(f"  DynamoDB reads among them:     {sum(reads.values())} ({', '.join(reads)})")
    print(f"  KMS calls by the key ring:     {crypto.keyring.kms_calls - kms_before}")
    print(
        f"  latency over {REQUESTS} fetches: median {statistics.median(timings):.2f} ms, "
        f"p95 {sorted(timings)[int(len(timings) * 0.95) - 1]:.2f} ms (in-process, moto)"
    )


if __name__ == "__main__":
    main()
