"""A small Chalice app for the local gateway's worker processes (tests/unit/test_local_workers.py).

Workers import it by name (``tests.support.lambda_app``), so its state is per process, as in Lambda.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from chalice import Chalice

app = Chalice(app_name="workertest", configure_logs=False)
_served = 0


@app.route("/whoami")
def whoami() -> dict[str, int]:
    """The worker's process id and how many requests this process has served."""
    global _served
    _served += 1
    return {"pid": os.getpid(), "served": _served}


@app.route("/rendezvous/{name}")
def rendezvous(name: str) -> dict[str, Any]:
    """Wait (up to 10 s) until another invocation has arrived too: only concurrent invocations meet."""
    folder = Path(os.environ["RENDEZVOUS_DIR"])
    (folder / f"{name}-{os.getpid()}").touch()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if len(list(folder.iterdir())) >= 2:
            return {"met": True, "pid": os.getpid()}
        time.sleep(0.01)
    return {"met": False, "pid": os.getpid()}


@app.route("/invoke")
def invoke() -> dict[str, Any]:
    """Call another function through the gateway's Lambda Invoke API, from inside a worker."""
    import json

    import boto3

    client = boto3.client(
        "lambda",
        endpoint_url=os.environ["LAMBDA_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    answer = client.invoke(FunctionName="echo", Payload=json.dumps({"from": os.getpid()}).encode())
    return {"caller": os.getpid(), "answer": json.loads(answer["Payload"].read())}


@app.lambda_function(name="echo")
def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"event": event, "pid": os.getpid(), "function": context.function_name}


@app.lambda_function(name="sleepy")
def sleepy(event: dict[str, Any], context: Any) -> None:
    time.sleep(30)


@app.lambda_function(name="crash")
def crash(event: dict[str, Any], context: Any) -> None:
    os._exit(3)


@app.lambda_function(name="huge")
def huge(event: dict[str, Any], context: Any) -> str:
    return "x" * (6_291_556 + 1)


@app.route("/bytes/{count}")
def some_bytes(count: str) -> Any:
    """``count`` bytes of binary body, which API Gateway receives base64-encoded (4/3 larger)."""
    from chalice import Response

    return Response(body=b"x" * int(count), headers={"Content-Type": "application/octet-stream"})
