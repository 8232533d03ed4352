"""The broker keeps cold starts small: pydantic loads only when a request body or bad id is validated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _loaded_after(statement: str, modules: list[str]) -> dict[str, bool]:
    code = f"import sys, json; {statement}; print(json.dumps({{m: m in sys.modules for m in {modules!r}}}))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_app_loads_neither_pydantic_nor_the_broker_service() -> None:
    loaded = _loaded_after("import app", ["pydantic", "chalicelib.broker.service", "chalicelib.broker.routes"])
    assert loaded == {"pydantic": False, "chalicelib.broker.service": False, "chalicelib.broker.routes": True}


def test_the_runtime_fetch_path_does_not_load_pydantic() -> None:
    loaded = _loaded_after("import chalicelib.broker.runtime", ["pydantic", "chalicelib.broker.runtime"])
    assert loaded == {"pydantic": False, "chalicelib.broker.runtime": True}
