"""Refresh sweep throughput with 1, 2, 4 and 8 workers on the local stack, against a 50 ms token endpoint.

For each worker count N (``BENCH_SCALE_WORKERS``, default ``1,2,4,8``) this starts the local stack
(``python -m infra.local.stack``) with ``REFRESH_SWEEP_WORKERS=N`` and N + 1 Lambda worker processes (the
coordinator and its workers, each in a process of its own as on Lambda; the AWS emulator in another),
stores N times ``BENCH_SCALE_DUE_PER_WORKER`` authentications due for a refresh through the emulator, all
refreshed by a real local HTTP token endpoint answering after ``BENCH_LATENCY_MS`` (50), then invokes
the scheduled ``refresh_sweep`` through the gateway's Lambda Invoke API and waits until the due index
is empty or the workers have stopped (a local worker has 60 s: the gateway's function timeout, less the
sweep's 25 s safety margin). It prints refreshes/s and the CPU time each process of the stack spent per
refresh, which shows which one bounds the throughput. Before that, one small recorded sweep (moto's
request recorder, which would slow the timed runs) counts the AWS calls per refresh.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import sweep
from bench.local_throughput import SECRET_KEY, start_stack, stop_stack

ROOT = Path(__file__).resolve().parents[1]
WORKER_COUNTS = [int(n) for n in os.environ.get("BENCH_SCALE_WORKERS", "1,2,4,8").split(",") if n.strip()]
DUE_PER_WORKER = int(os.environ.get("BENCH_SCALE_DUE_PER_WORKER", "800"))
RECORDED_DUE = int(os.environ.get("BENCH_SCALE_RECORDED_DUE", "200"))
STAGE = "bench"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stack_processes(root_pid: int) -> dict[int, str]:
    """The stack's processes by pid: 'gateway' (the stack itself), 'emulator', 'lambda workers'."""
    found = {root_pid: "gateway"}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if ppid == root_pid:
            found[int(entry.name)] = "emulator" if "infra.local.emulator" in command else "lambda workers"
    return found


def _waiting_seconds(pid: int) -> float:
    """Time the threads of one process spent runnable but waiting for a core (the scheduler's run queue)."""
    waited = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            waited += int((task / "schedstat").read_text().split()[1])
    return waited / 1e9


def _cpu_by_role(processes: dict[int, str]) -> dict[str, tuple[float, float]]:
    """(CPU seconds, seconds waiting for a core) of each role's processes so far."""
    totals: dict[str, tuple[float, float]] = {}
    for pid, role in processes.items():
        with contextlib.suppress(OSError):  # a worker replaced meanwhile
            cpu, waited = totals.get(role, (0.0, 0.0))
            totals[role] = (cpu + _cpu_seconds(pid), waited + _waiting_seconds(pid))
    return totals


def _point_at(endpoint: str) -> None:
    """This process's AWS clients go to the stack's emulator (to store the authentications and watch the index)."""
    from chalicelib import aws, catalog, crypto
    from chalicelib.settings import clear_settings

    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "STAGE": STAGE,
            "SECRET_KEY": SECRET_KEY,
        }
    )
    clear_settings()
    aws.reset()
    crypto.keyring.clear()
    catalog.forget_custom()


def _due_left(until_ms: int) -> int:
    from chalicelib.integrations.refresh_store import SWEEP_SOURCE

    return sum(1 for _ in SWEEP_SOURCE.due(until_ms))


def _sweep(url: str) -> dict[str, Any]:
    """Invoke the scheduled refresh_sweep (the coordinator) and return its answer."""
    import requests

    from infra.local.gateway.schedules import scheduled_event

    event = scheduled_event("us-east-1", "123456789012")
    answer = requests.post(f"{url}/2015-03-31/functions/refresh_sweep/invocations", json=event, timeout=120)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def _wait(due: int, limit_s: float, until_ms: int | None = None) -> tuple[float, float]:
    """Wait until the token endpoint has answered ``due`` refreshes (and, with ``until_ms``, the index holds
    nothing due), or ``limit_s`` passed, or the answers stopped for 5 s (the workers reached their deadline);
    the times of the first and the last answer."""
    started = time.perf_counter()
    last_count, first, last_change = 0, started, started
    while time.perf_counter() - started < limit_s:
        count = sweep._TokenEndpoint.calls
        if count != last_count:
            if last_count == 0:
                first = time.perf_counter()
            last_count, last_change = count, time.perf_counter()
        if count >= due and (until_ms is None or _due_left(until_ms) == 0):
            break
        if last_count and time.perf_counter() - last_change > 5:
            break
        time.sleep(0.1)
    return first, last_change


def _record(endpoint: str, action: str) -> Any:
    import requests

    answer = requests.post(f"{endpoint}/moto-api/recorder/{action}", timeout=30)
    answer.raise_for_status()
    return answer


def _recorded_calls(path: Path) -> Counter[str]:
    calls: Counter[str] = Counter()
    if not path.exists():
        return calls
    for line in path.read_text().splitlines():
        headers = json.loads(line)["headers"]
        target = headers.get("X-Amz-Target") or headers.get("x-amz-target")
        if target:
            service, _, operation = target.partition(".")
            calls[f"{'dynamodb' if service.startswith('DynamoDB') else service.lower()}.{operation}"] += 1
        elif "/functions/" in json.loads(line)["url"]:
            calls["lambda.Invoke"] += 1
    return calls


def run_one(workers: int, token_url: str, recording: Path | None) -> dict[str, Any]:
    """Start a stack with ``workers`` refresh workers, fill it, sweep it; the figures."""
    from chalicelib.http import now_ms
    from chalicelib.jobs import refresh_sweep

    moto_port = _free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    env = {
        "STAGE": STAGE,
        "MOTO_PORT": str(moto_port),
        "REFRESH_SWEEP_WORKERS": str(workers),
        "KEYPORT_LOCAL_WORKERS": str(workers + 1),
        "MOTO_RECORDER_FILEPATH": str(recording or os.devnull),
    }
    process, url = start_stack(ROOT, env)
    figures: dict[str, Any] = {"workers": workers, "load": os.getloadavg()[0]}
    try:
        _point_at(endpoint)
        if recording is not None:  # a small recorded sweep first: the AWS calls per refresh
            sweep.DUE, sweep.NOT_DUE = RECORDED_DUE, 0
            sweep.fill(token_url)
            sweep._TokenEndpoint.calls = 0
            _record(endpoint, "start-recording")
            _sweep(url)
            _wait(RECORDED_DUE, 120)
            time.sleep(2)  # the last answers' writes
            _record(endpoint, "stop-recording")
            figures["calls"] = _recorded_calls(recording)
            figures["recorded_refreshes"] = sweep._TokenEndpoint.calls
        # A first small sweep warms every worker process (imports and clients), as a sweep every 5 minutes
        # finds them on Lambda.
        sweep.DUE, sweep.NOT_DUE = 25 * workers, 0
        sweep.fill(token_url)
        sweep._TokenEndpoint.calls = 0
        _sweep(url)
        _wait(sweep.DUE, 120, now_ms() + refresh_sweep.WINDOW_MS)
        due = DUE_PER_WORKER * workers
        sweep.DUE, sweep.NOT_DUE = due, due // 10
        _, figures["fill_s"] = sweep.fill(token_url)
        processes = _stack_processes(process.pid)
        sweep._TokenEndpoint.calls = 0
        cpu_before, own_before = _cpu_by_role(processes), time.process_time()
        started = time.perf_counter()
        figures["coordinator"] = _sweep(url)
        first, last = _wait(due, 120, now_ms() + refresh_sweep.WINDOW_MS)
        cpu_after, own_after = _cpu_by_role(processes), time.process_time()
        refreshed = sweep._TokenEndpoint.calls
        seconds = max(last - started, 1e-3)
        steady = refreshed / max(last - first, 1e-3)  # from the first provider answer: without the hand-off
        figures.update(due=due, refreshed=refreshed, seconds=seconds, rate=refreshed / seconds, steady=steady)
        figures["left"] = _due_left(now_ms() + refresh_sweep.WINDOW_MS)
        cpu = {
            role: (cpu_after[role][0] - cpu_before[role][0], cpu_after[role][1] - cpu_before[role][1])
            for role in cpu_after
        }
        cpu["bench (token endpoint)"] = (own_after - own_before, 0.0)
        figures["cpu"] = cpu
    finally:
        stop_stack(process)
    return figures


def main() -> None:
    from chalicelib import aws
    from chalicelib.settings import clear_settings

    environment, sizes = dict(os.environ), (sweep.DUE, sweep.NOT_DUE)
    results = []
    try:
        with sweep.token_endpoint() as token_url, tempfile.TemporaryDirectory() as folder:
            for index, workers in enumerate(WORKER_COUNTS):
                recording = Path(folder) / "moto_recording" if index == 0 else None
                results.append(run_one(workers, token_url, recording))
    finally:  # the next benchmark gets the environment (and clients) it had, not the stopped emulator's
        os.environ.clear()
        os.environ.update(environment)
        sweep.DUE, sweep.NOT_DUE = sizes
        clear_settings()
        aws.reset()
    print(f"\nRefresh sweep fan-out on the local stack: token endpoint {sweep.LATENCY_MS} ms, {os.cpu_count()} cores")
    first = results[0]
    if first.get("calls"):
        refreshes = max(first["recorded_refreshes"], 1)
        calls: Counter[str] = first["calls"]
        dynamodb = {k.split(".", 1)[1]: v for k, v in sorted(calls.items()) if k.startswith("dynamodb.")}
        per_refresh = {op: round(n / refreshes, 2) for op, n in dynamodb.items() if op != "Query"}
        others = {k: v for k, v in sorted(calls.items()) if not k.startswith("dynamodb.")}
        print(f"  recorded sweep of {refreshes} refreshes, DynamoDB calls per refresh besides the index queries:")
        total = sum(per_refresh.values())
        print(f"    {total:.2f} {per_refresh}; index queries {dynamodb.get('Query', 0)}; other calls {others}")
    print("  refreshes/s: from the coordinator's invocation to the last provider answer (steady: from the first)")
    print("  CPU ms per refresh of each part (its share of one core over the sweep, + its share waiting for a core)")
    print("  workers  load  due    refreshed  left  seconds  refreshes/s  steady  CPU")
    for r in results:
        refreshed = max(r["refreshed"], 1)
        shares = ", ".join(
            f"{role} {1000 * used / refreshed:.1f} ({used / r['seconds']:.0%}"
            + (f", +{waited / r['seconds']:.0%})" if waited else ")")
            for role, (used, waited) in sorted(r["cpu"].items())
        )
        counts = f"{r['workers']:>7}  {r['load']:>4.1f}  {r['due']:<6} {r['refreshed']:>9}  {r['left']:>4}"
        counts += f"  {r['seconds']:>7.1f}  {r['rate']:>11.1f}  {r['steady']:>6.1f}"
        print(f"  {counts}  {shares}")


if __name__ == "__main__":
    main()
