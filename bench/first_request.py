"""First request of a fresh process, for each service, against the emulator, beside the SDK floor.

What a user waits for on a cold Lambda is the import of the app plus its first request. Each sample
is a fresh interpreter: either the app (``import app`` and one REST proxy event through it) or the
floor (``chalice.app``, ``pynamodb.models`` and AESGCM imported, then one DynamoDB GetItem and one
KMS Decrypt with botocore), run in pairs, floor then app, so that the machine's noise falls on both
alike. A service's figure is the median of its per-pair ratios. Each service's first request is the
one its callers make most: an integration's stored authentication, the broker's runtime credential
fetch, an entity-store list, the repo-tags list (GitHub is a local stand-in) and the publishing
project list.

    python -m bench.first_request                                  (the working tree's code and venv)
    python -m bench.first_request --package build/dev/deployment.zip

With ``--package`` both the floor and the app run from the unzipped Lambda package (``python -S``:
no site-packages; no bytecode written, as Lambda's code directory is read-only), which is what Lambda
runs: it proves that package answers every service. ``--record infra/package_cold_start.txt`` writes
the modules those first requests import (the package's bytecode is compiled for them: infra/package_bytecode.py).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.first_request_data import GITHUB_TOKEN, SECRET, SERVICES, first_requests

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "7"))

FLOOR = """
import time
t, c = time.perf_counter(), time.process_time()
import chalice.app, pynamodb.models
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
import botocore.session, os
session = botocore.session.get_session()
endpoint = os.environ["AWS_ENDPOINT_URL"]
ddb = session.create_client("dynamodb", endpoint_url=endpoint)
kms = session.create_client("kms", endpoint_url=endpoint)
ddb.get_item(TableName=os.environ["BENCH_TABLE"], Key=json.loads(os.environ["BENCH_KEY"]))
kms.decrypt(CiphertextBlob=base64.b64decode(os.environ["BENCH_BLOB"]))
print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)
"""

APP = """
import time
t, c = time.perf_counter(), time.process_time()
import app as keyport
class Context:
    function_name = "keyport-bench"
    aws_request_id = "bench"
    def get_remaining_time_in_millis(self): return 25000
response = keyport.app(json.loads(os.environ["BENCH_EVENT"]), Context())
assert response["statusCode"] == 200, response
print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)
"""


def _sample(code: str, env: dict[str, str], tree: Path | None) -> tuple[float, float]:
    """Wall and CPU milliseconds ``code`` takes in a fresh interpreter (from ``tree`` without site-packages)."""
    flags = ["-S"] if tree else []
    if tree:  # as on Lambda, whose code directory is read-only: only the bytecode the package ships is used
        env = env | {"PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, *flags, "-c", "import base64, json, os\n" + code]
    out = subprocess.run(command, cwd=tree or ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


@contextmanager
def _local_aws() -> Iterator[dict[str, str]]:
    """The emulator and a GitHub stand-in, with every service's records stored; the samples' environment.

    The process environment is put back afterwards: the benchmarks after this one run against moto's mock.
    """
    import logging

    from chalicelib import aws
    from chalicelib.settings import clear_settings
    from tests.support.github_server import github_stand_in

    environment = dict(os.environ)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    emulator = None
    try:
        with github_stand_in() as github:
            github.accept(GITHUB_TOKEN, 4242, "bench")
            # Quiet while storing the records (access lines, events the absent gateway cannot queue).
            os.environ.update({"SECRET_KEY": SECRET, "GITHUB_API_URL": github.url, "LOG_LEVEL": "ERROR"})
            from infra.local.stack import configure_environment

            emulator, _stack = configure_environment(port=0, host="127.0.0.1")
            yield _environment() | {"LOG_LEVEL": environment.get("LOG_LEVEL", "INFO")}
    finally:
        if emulator is not None:
            emulator.stop()
        os.environ.clear()
        os.environ.update(environment)
        clear_settings()
        aws.reset()


def _environment() -> dict[str, str]:
    from chalicelib import aws
    from chalicelib.integrations.models import Authentication
    from chalicelib.settings import get_settings
    from infra.local.bootstrap import bootstrap

    bootstrap()
    events = first_requests()
    blob = aws.client("kms").encrypt(KeyId=get_settings().kms_key_id, Plaintext=b"x" * 32)
    auth_id = events["integrations"]["pathParameters"]["auth_id"]
    env = {
        **os.environ,
        "BENCH_TABLE": Authentication.Meta.table_name,
        "BENCH_KEY": json.dumps({"id": {"S": auth_id}}),
        "BENCH_BLOB": base64.b64encode(blob["CiphertextBlob"]).decode(),
    }
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # any value, "0" too, stops Python writing bytecode
    return env | {f"BENCH_EVENT_{name}": json.dumps(event) for name, event in events.items()}


def measure(runs: int = RUNS, tree: Path | None = None) -> dict[str, dict[str, float]]:
    """Per service, medians over ``runs`` pairs: floor and app wall milliseconds, wall and CPU ratios."""
    samples: dict[str, dict[str, list[float]]] = {
        n: {"floor": [], "app": [], "ratio": [], "cpu": [], "floor_cpu": [], "app_cpu": []} for n in SERVICES
    }
    with _local_aws() as env:
        for name in SERVICES:  # warm the file cache and the bytecode
            _sample(FLOOR, env, tree), _sample(APP, env | {"BENCH_EVENT": env[f"BENCH_EVENT_{name}"]}, tree)
        for _ in range(runs):
            for name, figures in samples.items():
                floor, floor_cpu = _sample(FLOOR, env, tree)
                first, first_cpu = _sample(APP, env | {"BENCH_EVENT": env[f"BENCH_EVENT_{name}"]}, tree)
                figures["floor"].append(floor)
                figures["app"].append(first)
                figures["ratio"].append(first / floor)
                figures["cpu"].append(first_cpu / floor_cpu)
                figures["floor_cpu"].append(floor_cpu)
                figures["app_cpu"].append(first_cpu)
    return {name: {k: statistics.median(v) for k, v in figures.items()} for name, figures in samples.items()}


def report(figures: dict[str, dict[str, float]], runs: int, where: str) -> None:
    print(f"First request of a fresh process against the emulator ({where}), median of {runs} alternating pairs")
    print("  (ratio: wall time to the floor's; cpu: the same for CPU time, which a busy machine disturbs less)")
    floor = statistics.median(f["floor"] for f in figures.values())
    floor_cpu = statistics.median(f["floor_cpu"] for f in figures.values())
    print(f"  {'floor (imports + GetItem + KMS Decrypt)':<57} {floor:7.1f} ms  cpu {floor_cpu:5.0f} ms")
    for name, f in figures.items():
        label, _make, goal = SERVICES[name]
        print(
            f"  {name:<12} {label:<44} {f['app']:7.1f} ms  cpu {f['app_cpu']:5.0f} ms  ratio {f['ratio']:4.2f}x"
            f"  cpu {f['cpu']:4.2f}x"
            f"  (goal <= {goal:.2f}x)"
        )


IMPORTED = """
import sys
print(json.dumps(sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})))
"""


def record(tree: Path, path: Path) -> int:
    """Write to ``path`` the Python modules of ``tree`` that the floor and each first request import; how many."""
    found: set[str] = set()
    with _local_aws() as env:
        for name in [None, *SERVICES]:
            code = FLOOR if name is None else APP
            extra = {} if name is None else {"BENCH_EVENT": env[f"BENCH_EVENT_{name}"]}
            command = [sys.executable, "-S", "-c", "import base64, json, os\n" + code + IMPORTED]
            lambda_env = env | extra | {"PYTHONDONTWRITEBYTECODE": "1"}  # as in _sample
            out = subprocess.run(command, cwd=tree, env=lambda_env, capture_output=True, text=True, check=True)
            found.update(json.loads(out.stdout.strip().splitlines()[-1]))
    root = tree.resolve()
    inside = (Path(f).resolve() for f in found)
    # A sourceless module is "x.pyc" where its source was "x.py"; extension modules compile nothing.
    modules = sorted(
        {
            m.relative_to(root).as_posix().removesuffix("c")
            for m in inside
            if m.is_relative_to(root) and m.suffix in (".py", ".pyc")
        }
    )
    header = (
        "# The modules the first request of every service imports: the package ships their bytecode\n"
        "# (infra/package_bytecode.py). Written by: make package, then\n"
        f"# python -m bench.first_request --package build/dev/deployment.zip --record {path}\n"
    )
    path.write_text(header + "".join(f"{m}\n" for m in modules))
    return len(modules)


@contextmanager
def _unzipped(package: Path) -> Iterator[Path]:
    """The package unzipped, its folders read-only while in use (as Lambda's code directory is)."""
    with tempfile.TemporaryDirectory(prefix="keyport-package-") as directory:
        with zipfile.ZipFile(package) as archive:
            archive.extractall(directory)
        folders = [Path(directory), *(p for p in Path(directory).rglob("*") if p.is_dir())]
        for folder in folders:
            folder.chmod(0o555)
        try:
            yield Path(directory)
        finally:
            for folder in folders:
                folder.chmod(0o755)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, help="run from this Lambda zip (unzipped, without site-packages)")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--record", type=Path, help="with --package: write the modules the first requests import")
    args = parser.parse_args(argv)
    if args.record is not None and args.package is not None:
        with _unzipped(args.package) as tree:
            print(f"{record(tree, args.record)} modules imported by the first requests: {args.record}")
        return
    if args.package is None:
        report(measure(args.runs), args.runs, "working tree")
        return
    with _unzipped(args.package) as tree:
        report(measure(args.runs, tree), args.runs, str(args.package))


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"  ({time.perf_counter() - started:.0f} s)")
