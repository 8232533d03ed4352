"""Each Lambda function's timeout and memory as AWS would give them: what ``.chalice/config.json`` declares.

Chalice looks a function's ``lambda_timeout`` and ``lambda_memory_size`` up in the stage's
``lambda_functions.<name>``, the stage, the top-level ``lambda_functions.<name>``, the top level, and
falls back on its defaults (60 s, 128 MB); :func:`limits` asks Chalice's own ``Config`` the same
question, so the local stack and a deployment cannot disagree. The names are those Chalice deploys:
``api_handler`` for the REST API, ``websocket_connect`` / ``websocket_message`` /
``websocket_disconnect``, and each ``@app.schedule`` / ``@app.lambda_function`` by its name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalice.config import Config
from chalice.constants import DEFAULT_HANDLER_NAME, DEFAULT_LAMBDA_MEMORY_SIZE, DEFAULT_LAMBDA_TIMEOUT

#: The project's Chalice configuration.
CONFIG_PATH = Path(__file__).resolve().parents[2] / ".chalice" / "config.json"

#: The function Chalice deploys for each WebSocket route (any other route key goes to the message handler).
WEBSOCKET_FUNCTIONS = {"$connect": "websocket_connect", "$disconnect": "websocket_disconnect"}
WEBSOCKET_MESSAGE_FUNCTION = "websocket_message"

API_HANDLER = DEFAULT_HANDLER_NAME


@dataclass(frozen=True)
class FunctionLimits:
    """A function's timeout (seconds) and memory (MB)."""

    timeout: float = float(DEFAULT_LAMBDA_TIMEOUT)
    memory_mb: int = DEFAULT_LAMBDA_MEMORY_SIZE


def read_config(path: Path = CONFIG_PATH) -> dict[str, Any]:
    """The Chalice configuration at ``path`` (``.chalice/config.json``)."""
    config: dict[str, Any] = json.loads(path.read_text())
    return config


def limits(config: Mapping[str, Any], stage: str, function: str) -> FunctionLimits:
    """The timeout and memory ``config`` gives the function Chalice deploys as ``function`` in ``stage``."""
    scoped = Config(chalice_stage=stage, function_name=function, config_from_disk=dict(config))
    timeout = scoped.lambda_timeout
    memory = scoped.lambda_memory_size
    return FunctionLimits(
        float(timeout) if timeout is not None else float(DEFAULT_LAMBDA_TIMEOUT),
        int(memory) if memory is not None else DEFAULT_LAMBDA_MEMORY_SIZE,
    )
