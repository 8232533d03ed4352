"""Every operation of /openapi.json, fuzzed by schemathesis against the local stack: no 5xx, and every
status, body and content type as documented, with the operator key and without credentials.

Bounded (a fixed seed, a few examples per operation) to stay well under two minutes; ``make fuzz`` runs
the long version with every check.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fuzz.harness import FuzzRun, local_stack, run_schemathesis

MAX_EXAMPLES = 5


@pytest.fixture(scope="module")
def stack_url() -> Iterator[str]:
    with local_stack() as url:
        yield url


def _explain(run: FuzzRun) -> str:
    start = run.output.find("FAILURES")
    return f"{run.figures()}\n{run.failing_operations}\n{run.output[start if start >= 0 else 0 :]}"


@pytest.mark.parametrize("with_key", [True, False], ids=["operator-key", "no-credentials"])
def test_every_operation_answers_as_documented(stack_url: str, with_key: bool) -> None:
    run = run_schemathesis(
        stack_url,
        label="operator key" if with_key else "no credentials",
        with_key=with_key,
        max_examples=MAX_EXAMPLES,
        phases=("examples", "fuzzing"),
        shrink=False,
        timeout=300,
    )
    assert run.report, run.output  # the run happened and wrote its report
    operations = run.report["operations"]
    assert operations["selected"] == operations["total"] > 100, operations  # every operation, none filtered out
    assert operations["errored"] == 0 and not run.report["errors"], _explain(run)
    assert run.failures == [], _explain(run)
    assert run.returncode == 0, _explain(run)
