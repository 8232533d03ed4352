"""Cold start is import time: import app.py in fresh interpreters, beside the bare libraries."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "7"))

SUBJECTS = {
    "app (import app)": "import app",
    "chalice.app": "import chalice.app",
    "botocore.session": "import botocore.session",
    "boto3": "import boto3",
    "pynamodb.models": "import pynamodb.models",
    "requests": "import requests",
    "cryptography AESGCM": "from cryptography.hazmat.primitives.ciphers.aead import AESGCM",
    "app + first route modules": "import app, chalicelib.integrations.service, chalicelib.crypto",
}


def measure(statement: str) -> float:
    """Median wall time in ms of ``statement`` in a fresh interpreter (interpreter start excluded)."""
    code = f"import time; t=time.perf_counter(); {statement}; print((time.perf_counter()-t)*1000)"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    samples = []
    for _ in range(RUNS):
        command = [sys.executable, "-c", code]
        out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def main() -> None:
    print(f"Cold start: import time in a fresh interpreter, median of {RUNS} runs")
    for label, statement in SUBJECTS.items():
        print(f"  {label:<28} {measure(statement):8.1f} ms")


if __name__ == "__main__":
    main()
