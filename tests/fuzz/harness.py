"""Schemathesis over every operation of ``/openapi.json``, against the local stack, with and without the key.

Used by ``tests/fuzz/test_schemathesis.py`` (a bounded run inside ``make test``) and by ``make fuzz``
(``python -m tests.fuzz.harness``: more examples, every check). The stack is ``make run``'s program in a
subprocess, with a GitHub stand-in (``tests/support/github_server.py``) so that repo-tag routes meet an
answering GitHub instead of an unreachable one.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support.github_server import github_stand_in

ROOT = Path(__file__).resolve().parents[2]
FUZZ_SECRET_KEY = "fuzz-secret-key-6b1d27"
SEED = 20261202

#: What the bounded run in ``make test`` checks: no 5xx, documented statuses, bodies and content types.
BOUNDED_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "response_schema_conformance",
    "content_type_conformance",
)


@dataclass
class FuzzRun:
    """One schemathesis run: its figures and failures, from its JSON report."""

    label: str
    returncode: int
    output: str
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> list[dict[str, Any]]:
        return list(self.report.get("failures") or [])

    @property
    def failing_operations(self) -> dict[str, list[str]]:
        """Failure code (ST101 server error, ST103 undocumented status, ...) → operations."""
        found: dict[str, list[str]] = {}
        for failure in self.failures:
            found.setdefault(f"{failure['code']} {failure['title']}", []).extend(failure.get("operations") or [])
        return found

    def figures(self) -> str:
        """Operations, test cases, failures and time, on one line."""
        operations = self.report.get("operations") or {}
        cases = self.report.get("test_cases") or {}
        return (
            f"{self.label}: {operations.get('tested', '?')}/{operations.get('total', '?')} operations, "
            f"{cases.get('generated', '?')} test cases, {cases.get('unique_failures', '?')} unique failures, "
            f"{len(self.report.get('errors') or [])} errors, {self.report.get('running_time', 0.0):.1f} s"
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_stack(timeout: float = 90.0) -> Iterator[str]:
    """``python -m infra.local.stack`` on a free port, with the GitHub stand-in; yields its URL."""
    with github_stand_in() as github:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            {
                "PORT": str(port),
                "SECRET_KEY": FUZZ_SECRET_KEY,
                "GITHUB_API_URL": github.url,
                "LOG_LEVEL": "ERROR",
            }
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.local.stack"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the emulator and workers stop with it
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_ready(process, url, timeout)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever of the group outlived the stack


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local stack exited with {process.returncode}")
        try:
            if requests.get(f"{url}/api/", auth=(FUZZ_SECRET_KEY, ""), timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the local stack did not become ready in time")


def run_schemathesis(
    url: str,
    *,
    label: str,
    with_key: bool,
    max_examples: int,
    checks: Sequence[str] = BOUNDED_CHECKS,
    phases: Sequence[str] = ("examples", "coverage", "fuzzing"),
    seed: int = SEED,
    workers: int = 1,  # one: the same seed then sends the same requests in the same order
    shrink: bool = True,
    timeout: float = 1800,
    extra: Sequence[str] = (),
) -> FuzzRun:
    """Run the schemathesis CLI against ``url`` and read its JSON report."""
    with tempfile.TemporaryDirectory(prefix="keyport-fuzz-") as directory:
        report_path = Path(directory) / "report.json"
        command = [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{url}/openapi.json",
            "--max-examples",
            str(max_examples),
            "--seed",
            str(seed),
            "--checks",
            ",".join(checks),
            "--phases",
            ",".join(phases),
            "--request-timeout",
            "35",
            "--workers",
            str(workers),
            *([] if shrink else ["--no-shrink"]),
            "--suppress-health-check",
            "all",
            "--no-color",
            "--report",
            "json",
            "--report-json-path",
            str(report_path),
            *(["--auth", f"{FUZZ_SECRET_KEY}:"] if with_key else []),
            *extra,
        ]
        done = subprocess.run(command, cwd=directory, capture_output=True, text=True, check=False, timeout=timeout)
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return FuzzRun(label, done.returncode, done.stdout + done.stderr, report)


def main(argv: Sequence[str] | None = None) -> int:
    """``make fuzz``: a longer run, every check, with and without the operator key; prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("FUZZ_EXAMPLES", "50")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", str(SEED))))
    args = parser.parse_args(argv)
    runs = []
    with local_stack() as url:
        for label, with_key in (("operator key", True), ("no credentials", False)):
            run = run_schemathesis(
                url,
                label=label,
                with_key=with_key,
                max_examples=args.max_examples,
                seed=args.seed,
                checks=("all",),
                phases=("examples", "coverage", "fuzzing", "stateful"),
            )
            print(run.output, flush=True)
            runs.append(run)
    print("\n".join(["", "Figures:", *(f"  {run.figures()}" for run in runs)]))
    return max(run.returncode for run in runs)


if __name__ == "__main__":
    sys.exit(main())
