"""The "test" stage's fragment (a stage absent from config.json), generated in-process per module, and the models."""

from __future__ import annotations

from typing import Any

import pytest

from infra import template


@pytest.fixture(scope="module")
def fragment() -> dict[str, Any]:
    return template.generate("test", require_defined=False)


@pytest.fixture(scope="module")
def models() -> list[Any]:
    from chalicelib import aws

    return aws.all_models()
