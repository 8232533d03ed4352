"""The local stack: an AWS emulator process, Keyport's tables and key, Lambda workers and the local gateway.

``make run`` runs ``python -m infra.local.stack``. It starts moto's server in its own process on a
loopback port, points every AWS client at it, creates the tables, the KMS key and the (private)
publishing bucket, starts a pool of Lambda-like worker processes (``KEYPORT_LOCAL_WORKERS``, default:
the number of cores; ``0`` runs every invocation in this process behind one lock), serves the Chalice
app on ``http://127.0.0.1:$PORT`` through the local API Gateway emulator and the publishing bucket on
``PUBLISH_PORT`` (default: a free port) as CloudFront would, in the foreground until Ctrl-C or SIGTERM.
Data lives in memory and is gone when the stack stops.
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

from infra.local.cdn import BucketSite
from infra.local.emulator import Emulator
from infra.local.function_limits import read_config
from infra.local.gateway import LocalGateway
from infra.local.workers import WorkerPool, default_pool_size

log = logging.getLogger("keyport.local")


@dataclass
class LocalStack:
    """A running emulator and gateway."""

    url: str
    secret_key: str
    aws_endpoint: str
    generated_key: bool
    publish_url: str = ""
    workers: int = 0


def _environment(endpoint: str, url: str, secret_key: str, publish_url: str | None) -> dict[str, str]:
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    values = {
        "KEYPORT_LOCAL": "1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": os.environ.get("AWS_REGION", region),
        "STAGE": os.environ.get("STAGE", "local"),
        "SECRET_KEY": secret_key,
        "PUBLIC_URL": os.environ.get("PUBLIC_URL", url),
        # The local gateway emulates Lambda Invoke and the websocket management API on its own port.
        "LAMBDA_ENDPOINT_URL": url,
        "WEBSOCKET_MANAGEMENT_URL": url,
    }
    if publish_url:
        # The private bucket is served through the local stack, as CloudFront serves it on AWS.
        values["PREVIEW_BASE_URL"] = os.environ.get("PREVIEW_BASE_URL") or f"{publish_url}/preview"
        values["PUBLISH_BASE_URL"] = os.environ.get("PUBLISH_BASE_URL") or f"{publish_url}/publish"
    return values


def configure_environment(
    port: int, host: str, *, emulator: Emulator | None = None, publish_url: str | None = None
) -> tuple[Emulator, LocalStack]:
    """Start the AWS emulator (unless given) and set the environment the app reads; the emulator and the facts."""
    if emulator is None:
        emulator = Emulator(int(os.environ.get("MOTO_PORT", "0")))
        emulator.wait()
    generated = not os.environ.get("SECRET_KEY")
    secret_key = os.environ.get("SECRET_KEY") or "sk_local_" + secrets.token_urlsafe(24)
    url = f"http://{host}:{port}"
    os.environ.update(_environment(emulator.endpoint, url, secret_key, publish_url))
    os.environ.pop("AWS_PROFILE", None)
    # Keyport's own modules are imported once the environment points them at the emulator.
    from chalicelib import aws
    from chalicelib.settings import clear_settings

    clear_settings()
    aws.reset()
    stack = LocalStack(url, secret_key, emulator.endpoint, generated, publish_url=publish_url or "")
    return emulator, stack


def banner(stack: LocalStack) -> str:
    """What the stack prints once it is ready."""
    key_line = f"  SECRET_KEY  {stack.secret_key}" + (
        "   (generated; set SECRET_KEY to choose one)" if stack.generated_key else ""
    )
    workers = f"{stack.workers} worker processes" if stack.workers else "in-process (one invocation at a time)"
    return "\n".join(
        [
            "",
            "Keyport local stack is ready.",
            f"  URL         {stack.url}",
            f"  Dashboard   {stack.url}/dashboard   (sign in with the SECRET_KEY)",
            key_line,
            f"  AWS (moto)  {stack.aws_endpoint}",
            f"  Publishing  {stack.publish_url}   (the private bucket, served as CloudFront would)",
            f"  Lambda      {workers}",
            f"  Try:        curl -u '{stack.secret_key}:' {stack.url}/api/",
            "  Stop:       Ctrl-C",
            "",
        ]
    )


async def serve(port: int, host: str) -> None:
    """Run the stack until SIGINT or SIGTERM."""
    emulator = Emulator(int(os.environ.get("MOTO_PORT", "0")))  # starts now; awaited below
    pool: WorkerPool | None = None
    site: BucketSite | None = None
    gateway: LocalGateway | None = None
    try:
        site = BucketSite("", None, host=host, port=int(os.environ.get("PUBLISH_PORT", "0")))
        await site.start()
        _emulator, stack = configure_environment(port, host, emulator=emulator, publish_url=site.url)
        loop = asyncio.get_running_loop()
        size = default_pool_size()
        spawning: asyncio.Future[None] | None = None
        if size:
            # Workers import the app while the emulator starts and the tables are created.
            pool = WorkerPool("app", size, management_endpoint=f"{stack.url}/api")  # the gateway's stage
            spawning = asyncio.ensure_future(pool.start())
        await loop.run_in_executor(None, emulator.wait)
        created = await loop.run_in_executor(None, _bootstrap)
        log.info("tables ready: %s", ", ".join(created["tables"]))
        # The app is imported once the environment points it at the emulator (its import reads LOG_LEVEL).
        from app import app
        from chalicelib import aws
        from chalicelib.settings import get_settings

        site.bucket = get_settings().publish_bucket
        site.s3 = aws.client("s3")
        if spawning is not None:
            await spawning
        # Each function gets the timeout and memory .chalice/config.json gives it on AWS.
        gateway = LocalGateway(app, host=host, port=port, workers=pool, chalice_config=read_config())
        await gateway.start()
        stack.workers = size
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(banner(stack), flush=True)
        await stop.wait()
        print("Stopping Keyport local stack...", flush=True)
    finally:
        if gateway is not None:
            await gateway.stop()
        if pool is not None:
            await pool.stop()
        if site is not None:
            await site.stop()
        emulator.stop()


def _bootstrap() -> dict[str, Any]:
    from infra.local.bootstrap import bootstrap  # Keyport's modules: once the environment is set

    return bootstrap()


def main() -> int:
    """Entry point of ``make run``."""
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    for noisy in ("werkzeug", "botocore", "pynamodb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    port = int(os.environ.get("PORT", "8000"))
    host = os.environ.get("HOST", "127.0.0.1")
    try:
        asyncio.run(serve(port, host))
    except (OSError, RuntimeError) as e:
        print(f"Keyport could not start: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
