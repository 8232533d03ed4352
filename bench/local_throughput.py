"""Throughput of the local stack: a stored-authentication read over HTTP, keep-alive, concurrency 8.

Starts ``python -m infra.local.stack`` as ``make run`` does, stores one configuration and one
authentication, then sends ``GET /api/github/authentications/{id}`` from a small aiohttp client
(``BENCH_CONCURRENCY`` connections kept alive, ``BENCH_REQUESTS`` requests after a warm-up) and prints
requests/s with the p50 and p95 latency. ``--root DIR`` runs the stack from another checkout of the
repository (to compare with an older commit); extra environment (``KEYPORT_LOCAL_WORKERS=1``...) is
passed to the stack.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "bench-local-secret-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_stack(root: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """The stack as a subprocess (from ``root``) and its URL, once it answers."""
    import requests

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"PORT": str(port), "SECRET_KEY": SECRET_KEY, "LOG_LEVEL": "WARNING", **(extra_env or {})})
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local.stack"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local stack exited with {process.returncode}")
        try:
            if requests.get(f"{url}/api/", auth=(SECRET_KEY, ""), timeout=2).status_code == 200:
                return process, url
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the local stack did not become ready in time")


def stop_stack(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def store_authentication(url: str) -> str:
    """One configuration and one authentication for github; the authentication's path."""
    import requests

    auth = (SECRET_KEY, "")
    setup = requests.post(
        f"{url}/api/github/configurations",
        auth=auth,
        json={"credentials": {"clientId": "bench-client-id", "clientSecret": "bench-client-secret"}},
        timeout=30,
    )
    setup.raise_for_status()
    payload = {"accessToken": "a" * 40, "refreshToken": "r" * 40, "expiresIn": 3600}
    created = requests.post(
        f"{url}/api/github/authentications",
        auth=auth,
        json={"setup_id": setup.json()["configuration"]["id"], "payload": payload},
        timeout=30,
    )
    created.raise_for_status()
    return f"/api/github/authentications/{created.json()['authentication']['id']}"


async def drive(url: str, path: str, total: int, concurrency: int) -> tuple[float, list[float], int]:
    """Send ``total`` GETs over ``concurrency`` keep-alive connections; (seconds, latencies in ms, failures)."""
    import aiohttp

    headers = {"Authorization": "Basic " + base64.b64encode(f"{SECRET_KEY}:".encode()).decode()}
    latencies: list[float] = []
    failures = 0
    remaining = total
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(base_url=url, connector=connector, headers=headers) as session:

        async def one_connection() -> None:
            nonlocal remaining, failures
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                async with session.get(path) as response:
                    await response.read()
                    if response.status != 200:
                        failures += 1
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(one_connection() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, failures


def measure(root: Path, total: int, concurrency: int, extra_env: dict[str, str] | None = None) -> dict[str, float]:
    """Start the stack from ``root``, warm it, drive it; the figures."""
    process, url = start_stack(root, extra_env)
    try:
        path = store_authentication(url)
        asyncio.run(drive(url, path, max(concurrency * 20, total // 10), concurrency))  # warm every worker
        seconds, latencies, failures = asyncio.run(drive(url, path, total, concurrency))
    finally:
        stop_stack(process)
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "requests": float(total),
        "failures": float(failures),
        "rps": total / seconds,
        "p50": cuts[49],
        "p95": cuts[94],
    }


def report(label: str, figures: dict[str, float]) -> str:
    return (
        f"{label}: {figures['rps']:.0f} requests/s, p50 {figures['p50']:.1f} ms, p95 {figures['p95']:.1f} ms"
        f" ({figures['requests']:.0f} requests, {figures['failures']:.0f} failed)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout to run the stack from")
    parser.add_argument("--requests", type=int, default=int(os.environ.get("BENCH_REQUESTS", "2000")))
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("BENCH_CONCURRENCY", "8")))
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra stack environment")
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.env)
    figures = measure(args.root.resolve(), args.requests, args.concurrency, extra)
    label = f"local stack GET authentication, concurrency {args.concurrency}"
    if extra:
        label += " [" + " ".join(f"{k}={v}" for k, v in extra.items()) + "]"
    print(report(label, figures))
    print(json.dumps({k: round(v, 2) for k, v in figures.items()}), file=sys.stderr)


if __name__ == "__main__":
    main()
