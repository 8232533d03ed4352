"""Structured logs and CloudWatch metrics, from the standard library alone.

On Lambda (or with ``LOG_FORMAT=json``) every log line is one JSON object: time, level, logger,
message, the request's ids, function, service and route (kept in a context variable by the app's
middleware), and whatever a call passes as ``extra``. Metrics are written in CloudWatch's embedded
metric format (EMF): one JSON line on stdout that CloudWatch Logs turns into metrics, with no API
call and no client. Powertools' Logger and Metrics do the same; this module is what Keyport uses of
them, at no import cost (json, logging and time are loaded before any handler runs).

Nothing secret goes in: callers log ids and outcomes, never tokens or keys.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

NAMESPACE = "Keyport"
LOGGER = "keyport"  # the Chalice app's logger (its app_name), parent of every Keyport logger

#: The request being handled: request_id, function, service, route.
_context: ContextVar[dict[str, str] | None] = ContextVar("keyport_log_context", default=None)

#: LogRecord attributes that are not "extra" fields.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: the record, the request's context and the call's ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **(_context.get() or {}),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"), default=str)


def configure(environ: Mapping[str, str] | None = None) -> bool:
    """Set Keyport's log level (``LOG_LEVEL``), and format every log line as JSON on Lambda (or with
    ``LOG_FORMAT=json``); whether it did. Called by every module Lambda loads a handler from."""
    env = os.environ if environ is None else environ
    logging.getLogger(LOGGER).setLevel(env.get("LOG_LEVEL", "INFO"))
    wanted = env.get("LOG_FORMAT", "").lower()
    if wanted != "json" and not (env.get("AWS_LAMBDA_FUNCTION_NAME") and wanted != "text"):
        return False
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stdout))
    # The Chalice app gives its logger (Keyport's) a handler of its own that does not propagate.
    for handler in [*root.handlers, *logging.getLogger(LOGGER).handlers]:
        handler.setFormatter(JsonFormatter())
    return True


@contextmanager
def request_context(**fields: str | None) -> Iterator[None]:
    """Add ``fields`` (request_id, function, service, route...) to every log line written inside the block."""
    token = _context.set({name: value for name, value in fields.items() if value})
    try:
        yield
    finally:
        _context.reset(token)


def fields() -> dict[str, str]:
    """The current request's context (empty outside a request)."""
    return dict(_context.get() or {})


def current(name: str) -> str | None:
    """A field of the current request's context (for example ``service``), or None outside a request."""
    return (_context.get() or {}).get(name)


def metrics_enabled() -> bool:
    """EMF lines are written on Lambda, or with ``METRICS=emf`` (the local stack's console stays readable)."""
    wanted = os.environ.get("METRICS", "").lower()
    return wanted == "emf" or (bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) and wanted != "off")


def metric(name: str, value: float = 1, unit: str = "Count", stream: TextIO | None = None, **dimensions: str) -> None:
    """Write one CloudWatch metric in EMF (one stdout line), with ``dimensions`` (Service by default);
    inside :func:`metrics_batch` (and with no ``stream``), add it to the batch's line instead."""
    batch = _batch.get() if stream is None else None
    if batch is None and stream is None and not metrics_enabled():
        return
    dimensions = {"Service": current("service") or "keyport", **dimensions}
    if batch is not None:
        batch.add(name, value, unit, dimensions)
        return
    _write(_document(dimensions, {name: (unit, value)}), stream)


@contextmanager
def metrics_batch(stream: TextIO | None = None) -> Iterator[None]:
    """Gather the metrics written inside the block into one EMF line per set of dimensions, written when
    the block ends (also on an error): counts summed, other units with every value (EMF takes up to 100
    values a metric a line; more make more lines). A pool's tasks join the batch when submitted through
    ``contextvars.copy_context().run``. Inside a batch, a nested one adds to the outer one."""
    if _batch.get() is not None:
        yield
        return
    batch = _Batch()
    token = _batch.set(batch)
    try:
        yield
    finally:
        _batch.reset(token)
        if stream is not None or metrics_enabled():
            for document in batch.documents():
                _write(document, stream)


#: EMF's bound on the values of one metric in one line.
MAX_VALUES = 100

Dimensions = tuple[tuple[str, str], ...]


class _Batch:
    """The metrics of one :func:`metrics_batch` block: by dimensions, by name, the unit and the values."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the block's pool threads add to it at once
        self._groups: dict[Dimensions, dict[str, tuple[str, list[float]]]] = {}

    def add(self, name: str, value: float, unit: str, dimensions: Mapping[str, str]) -> None:
        with self._lock:
            group = self._groups.setdefault(tuple(sorted(dimensions.items())), {})
            _, values = group.setdefault(name, (unit, []))
            if unit == "Count" and values:
                values[0] += value
            else:
                values.append(value)

    def documents(self) -> Iterator[dict[str, Any]]:
        with self._lock:
            groups = {key: dict(group) for key, group in self._groups.items()}
        for key, group in groups.items():
            for start in range(0, max(len(values) for _, values in group.values()), MAX_VALUES):
                metrics: dict[str, tuple[str, float | list[float]]] = {}
                for name, (unit, values) in group.items():
                    part = values[start : start + MAX_VALUES]
                    if part:
                        metrics[name] = (unit, part[0] if len(part) == 1 else part)
                yield _document(dict(key), metrics)


_batch: ContextVar[_Batch | None] = ContextVar("keyport_metrics_batch", default=None)


def _document(dimensions: Mapping[str, str], metrics: Mapping[str, tuple[str, float | list[float]]]) -> dict[str, Any]:
    """One EMF document: ``metrics`` (name: unit, value or values) under one set of ``dimensions``."""
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (unit, _) in metrics.items()],
                }
            ],
        },
        **dimensions,
        **{name: value for name, (_, value) in metrics.items()},
    }


def _write(document: dict[str, Any], stream: TextIO | None) -> None:
    out = stream or sys.stdout
    out.write(json.dumps(document, separators=(",", ":")) + "\n")
    out.flush()
