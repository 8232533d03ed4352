"""The local stack: an in-process AWS emulator, Keyport's tables and key, and the local gateway.

``make run`` runs ``python -m infra.local.stack``. It starts moto's server on a free loopback port,
points every AWS client at it, creates the tables and the KMS key, and serves the Chalice app on
``http://127.0.0.1:$PORT`` through the local API Gateway emulator, in the foreground until Ctrl-C or
SIGTERM. Data lives in memory and is gone when the stack stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import sys
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("keyport.local")


@dataclass
class LocalStack:
    """A running emulator and gateway."""

    url: str
    secret_key: str
    aws_endpoint: str
    generated_key: bool


def configure_environment(port: int, host: str) -> tuple[Any, LocalStack]:
    """Start the AWS emulator and set the environment the app reads; the emulator and the stack facts."""
    from moto.server import ThreadedMotoServer

    emulator = ThreadedMotoServer(ip_address="127.0.0.1", port=int(os.environ.get("MOTO_PORT", "0")), verbose=False)
    emulator.start()
    moto_host, moto_port = emulator.get_host_and_port()
    endpoint = f"http://{moto_host}:{moto_port}"
    generated = not os.environ.get("SECRET_KEY")
    secret_key = os.environ.get("SECRET_KEY") or "sk_local_" + secrets.token_urlsafe(24)
    url = f"http://{host}:{port}"
    os.environ.update(
        {
            "KEYPORT_LOCAL": "1",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "AWS_REGION": os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1")),
            "STAGE": os.environ.get("STAGE", "local"),
            "SECRET_KEY": secret_key,
            "PUBLIC_URL": os.environ.get("PUBLIC_URL", url),
            # The local gateway emulates Lambda Invoke and the websocket management API on its own port.
            "LAMBDA_ENDPOINT_URL": url,
            "WEBSOCKET_MANAGEMENT_URL": url,
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    from chalicelib import aws
    from chalicelib.settings import clear_settings

    clear_settings()
    aws.reset()
    return emulator, LocalStack(url=url, secret_key=secret_key, aws_endpoint=endpoint, generated_key=generated)


def banner(stack: LocalStack) -> str:
    """What the stack prints once it is ready."""
    key_line = f"  SECRET_KEY  {stack.secret_key}" + (
        "   (generated; set SECRET_KEY to choose one)" if stack.generated_key else ""
    )
    return "\n".join(
        [
            "",
            "Keyport local stack is ready.",
            f"  URL         {stack.url}",
            f"  Dashboard   {stack.url}/dashboard   (sign in with the SECRET_KEY)",
            key_line,
            f"  AWS (moto)  {stack.aws_endpoint}",
            f"  Try:        curl -u '{stack.secret_key}:' {stack.url}/api/",
            "  Stop:       Ctrl-C",
            "",
        ]
    )


async def serve(port: int, host: str) -> None:
    """Run the stack until SIGINT or SIGTERM."""
    emulator, stack = configure_environment(port, host)
    try:
        from infra.local.bootstrap import bootstrap

        created = bootstrap()
        log.info("tables ready: %s", ", ".join(created["tables"]))
        from app import app
        from infra.local.gateway import LocalGateway

        gateway = LocalGateway(app, host=host, port=port)
        await gateway.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(banner(stack), flush=True)
        await stop.wait()
        print("Stopping Keyport local stack...", flush=True)
        await gateway.stop()
    finally:
        emulator.stop()


def main() -> int:
    """Entry point of ``make run``."""
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    for noisy in ("werkzeug", "botocore", "pynamodb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    port = int(os.environ.get("PORT", "8000"))
    host = os.environ.get("HOST", "127.0.0.1")
    try:
        asyncio.run(serve(port, host))
    except OSError as e:
        print(f"Keyport could not start: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
