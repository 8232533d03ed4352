"""Structured JSON logs and CloudWatch EMF metrics (chalicelib/observability.py)."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chalicelib import observability

ROOT = Path(__file__).resolve().parents[2]


def test_a_log_line_is_one_json_object_with_the_requests_context_and_extra_fields() -> None:
    record = logging.LogRecord("keyport.access", logging.INFO, __file__, 1, "request %s", ("done",), None)
    record.status = 201
    record.duration_ms = 4.5
    with observability.request_context(request_id="req-1", service="broker", route="POST /admin/customers"):
        line = json.loads(observability.JsonFormatter().format(record))
    assert line["message"] == "request done" and line["level"] == "INFO" and line["logger"] == "keyport.access"
    assert (line["request_id"], line["service"], line["route"]) == ("req-1", "broker", "POST /admin/customers")
    assert (line["status"], line["duration_ms"]) == (201, 4.5)
    assert line["time"].endswith("Z")
    assert "service" not in json.loads(observability.JsonFormatter().format(record))  # outside the request


@pytest.mark.parametrize(
    ("environ", "json_lines"),
    [
        ({}, False),
        ({"LOG_FORMAT": "json"}, True),
        ({"AWS_LAMBDA_FUNCTION_NAME": "keyport-prod"}, True),
        ({"AWS_LAMBDA_FUNCTION_NAME": "keyport-prod", "LOG_FORMAT": "text"}, False),
    ],
)
def test_json_lines_on_lambda_or_when_asked(environ: dict[str, str], json_lines: bool) -> None:
    root, keyport = logging.getLogger(), logging.getLogger(observability.LOGGER)
    kept = [(handler, handler.formatter) for handler in [*root.handlers, *keyport.handlers]]
    level = keyport.level
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    try:
        assert observability.configure(environ) is json_lines
        assert isinstance(handler.formatter, observability.JsonFormatter) is json_lines
    finally:
        root.removeHandler(handler)
        keyport.setLevel(level)
        for other, formatter in kept:
            other.setFormatter(formatter)


@pytest.mark.parametrize(
    "handler_module",
    [
        "app",  # the API and websocket handlers: Chalice gives Keyport's logger a handler of its own
        "chalicelib.publishing.routes",  # a blueprint's function: Lambda loads its module, not app.py
        "chalicelib.jobs.functions",
    ],
)
def test_every_module_lambda_loads_a_handler_from_writes_json_lines(handler_module: str) -> None:
    code = f"import logging, sys\nimport {handler_module}\nlogging.getLogger('keyport.test').info('started')\n"
    environ = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "keyport-prod-x", "LOG_LEVEL": "INFO"}
    environ.pop("LOG_FORMAT", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert (line["logger"], line["level"], line["message"]) == ("keyport.test", "INFO", "started")


def test_a_metric_is_an_emf_line_with_its_namespace_dimensions_and_value() -> None:
    out = io.StringIO()
    with observability.request_context(service="integrations"):
        observability.metric("ProxyCall", stream=out, Outcome="2xx")
    document = json.loads(out.getvalue())
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive == {
        "Namespace": "Keyport",
        "Dimensions": [["Outcome", "Service"]],
        "Metrics": [{"Name": "ProxyCall", "Unit": "Count"}],
    }
    assert (document["Service"], document["Outcome"], document["ProxyCall"]) == ("integrations", "2xx", 1)


def test_metrics_are_written_on_lambda_only_unless_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.delenv("METRICS", raising=False)
    observability.metric("Build")
    assert capsys.readouterr().out == ""  # the local stack's console stays readable
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "keyport-prod-build_worker")
    observability.metric("Build")
    assert json.loads(capsys.readouterr().out)["Build"] == 1


def test_every_request_writes_one_access_line_with_its_route_service_and_outcome(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.conftest import TEST_SECRET_KEY

    auth = "Basic " + base64.b64encode(f"{TEST_SECRET_KEY}:".encode()).decode()
    with caplog.at_level(logging.INFO, logger="keyport.access"):
        client.http.get("/admin/customers", headers={"Authorization": auth})
        client.http.get("/api/v1/tags")  # no GitHub token: refused
    lines = [json.loads(observability.JsonFormatter().format(r)) for r in caplog.records if r.name == "keyport.access"]
    assert [(x["service"], x["route"], x["status"], x["outcome"]) for x in lines] == [
        ("broker", "GET /admin/customers", 200, "ok"),
        ("repotags", "GET /api/v1/tags", 400, "refused"),
    ]
    assert all(isinstance(x["duration_ms"], float) for x in lines)
    assert TEST_SECRET_KEY not in caplog.text and auth not in caplog.text


def emf_documents(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_a_metrics_batch_writes_one_line_per_dimensions_with_counts_summed_and_other_values_kept() -> None:
    out = io.StringIO()
    with observability.metrics_batch(stream=out):
        for _ in range(3):
            observability.metric("RefreshSucceeded")
        observability.metric("RefreshFailed", 2)
        observability.metric("SweepOverdue", 40, "Milliseconds")
        observability.metric("SweepOverdue", 15, "Milliseconds")
        observability.metric("ProxyCall", Outcome="2xx")
        assert out.getvalue() == ""  # nothing before the block ends
    first, second = emf_documents(out.getvalue())
    assert first["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": "Keyport",
            "Dimensions": [["Service"]],
            "Metrics": [
                {"Name": "RefreshSucceeded", "Unit": "Count"},
                {"Name": "RefreshFailed", "Unit": "Count"},
                {"Name": "SweepOverdue", "Unit": "Milliseconds"},
            ],
        }
    ]
    assert (first["Service"], first["RefreshSucceeded"], first["RefreshFailed"], first["SweepOverdue"]) == (
        "keyport",
        3,
        2,
        [40, 15],
    )
    assert second["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Outcome", "Service"]]
    assert (second["Outcome"], second["ProxyCall"]) == ("2xx", 1)


def test_a_metrics_batch_is_written_when_its_block_fails_and_joined_by_tasks_run_in_a_copy_of_its_context() -> None:
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    out = io.StringIO()
    with pytest.raises(RuntimeError), observability.metrics_batch(stream=out):
        with ThreadPoolExecutor(max_workers=4) as pool:
            for _ in range(10):
                pool.submit(contextvars.copy_context().run, observability.metric, "RefreshSucceeded")
        with observability.metrics_batch(stream=out):  # nested: adds to the outer batch
            observability.metric("RefreshSucceeded")
        raise RuntimeError("the sweep failed")
    [document] = emf_documents(out.getvalue())
    assert document["RefreshSucceeded"] == 11


def test_a_metrics_batch_keeps_to_emfs_100_values_a_line() -> None:
    out = io.StringIO()
    with observability.metrics_batch(stream=out):
        for value in range(150):
            observability.metric("SweepOverdue", value, "Milliseconds")
        observability.metric("SweepSelected", 7)
    first, second = emf_documents(out.getvalue())
    assert (first["SweepOverdue"], first["SweepSelected"]) == (list(range(100)), 7)
    assert second["SweepOverdue"] == list(range(100, 150)) and "SweepSelected" not in second


def test_a_metrics_batch_writes_nothing_where_metrics_are_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.setenv("METRICS", "off")
    with observability.metrics_batch():
        observability.metric("RefreshSucceeded")
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("METRICS", "emf")
    with observability.metrics_batch():
        observability.metric("RefreshSucceeded")
        observability.metric("RefreshSucceeded")
    [document] = emf_documents(capsys.readouterr().out)
    assert document["RefreshSucceeded"] == 2
