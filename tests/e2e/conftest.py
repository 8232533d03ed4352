"""The local stack (`make run`'s program) started as a subprocess, as a newcomer would run it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
E2E_SECRET_KEY = "e2e-secret-key-4f1c9a"


@dataclass
class RunningStack:
    url: str
    secret_key: str
    process: subprocess.Popen[str]
    aws_endpoint: str = ""  # the AWS emulator's own URL (what a client without credentials would call)
    publish_url: str = ""  # where the stack serves the private publishing bucket (CloudFront's part)

    @property
    def auth(self) -> tuple[str, str]:
        return (self.secret_key, "")


def until(get: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 30.0) -> Any:
    """``get()`` again every 0.3 s until ``done`` says yes or ``timeout`` s pass; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_stack(extra_env: dict[str, str] | None = None, timeout: float = 60.0) -> RunningStack:
    """Start `python -m infra.local.stack` and wait until GET /api/ answers with the key."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"PORT": str(port), "SECRET_KEY": E2E_SECRET_KEY, "LOG_LEVEL": "WARNING", "MOTO_PORT": str(free_port())})
    env["PUBLISH_PORT"] = str(free_port())
    env.update(extra_env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local.stack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"the local stack exited with {process.returncode}:\n{output}")
        try:
            # Any answer from the app means ready (401 too: a generated key is not the one probed with).
            if requests.get(f"{url}/api/", auth=(E2E_SECRET_KEY, ""), timeout=2).status_code in (200, 401):
                aws, site = (f"http://127.0.0.1:{env[name]}" for name in ("MOTO_PORT", "PUBLISH_PORT"))
                return RunningStack(url, env["SECRET_KEY"], process, aws, site)
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the local stack did not become ready in time")


def stop_stack(stack: RunningStack) -> tuple[int, str]:
    """SIGTERM, as Ctrl-C or a process manager would; the exit code and everything it printed."""
    stack.process.send_signal(signal.SIGTERM)
    try:
        output, _ = stack.process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        output, _ = stack.process.communicate()
    return stack.process.returncode, output


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    running = start_stack()
    yield running
    stop_stack(running)
