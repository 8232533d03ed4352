"""infra/deploy.sh against a stand-in `aws` command on PATH: stack states, failed creates, no secret in argv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SECRET = "my-operator-key-0123456789abcdef"

# The stand-in CLI: answers from a state file, logs every command line (one JSON list per line).
STUB = r"""
import json, os, sys
args = sys.argv[1:]
state_path = os.environ["STUB_STATE"]
state = json.load(open(state_path))
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
def arg(name):
    return args[args.index(name) + 1]
if args[:2] == ["configure", "get"]:
    sys.exit(1)
if args[:2] == ["cloudformation", "describe-stacks"]:
    if state["status"] == "NONE":
        print("An error occurred (ValidationError) when calling the DescribeStacks operation: "
              f"Stack with id {arg('--stack-name')} does not exist", file=sys.stderr)
        sys.exit(254)
    query = arg("--query")
    if query == "Stacks[0].StackStatus":
        print(state["status"])
    elif "OperatorSecretArn" in query:
        print("arn:aws:secretsmanager:us-east-1:123456789012:secret:OperatorSecret-abc")
    else:
        print("| outputs |")
    sys.exit(0)
if args[:2] == ["cloudformation", "package"]:
    open(arg("--output-template-file"), "w").write(open(arg("--template-file")).read())
    sys.exit(0)
if args[:2] == ["cloudformation", "deploy"]:
    if state.get("create_fails"):
        state["status"] = "ROLLBACK_COMPLETE"
        json.dump(state, open(state_path, "w"))
        print("Failed to create/update the stack", file=sys.stderr)
        sys.exit(255)
    state["status"] = "CREATE_COMPLETE"
    json.dump(state, open(state_path, "w"))
    sys.exit(0)
if args[:2] == ["secretsmanager", "put-secret-value"]:
    print("v1")
    sys.exit(0)
print("stub aws: unexpected " + " ".join(args), file=sys.stderr)
sys.exit(99)
"""


def _deploy(tmp_path: Path, status: str, **env: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    aws = bin_dir / "aws"
    aws.write_text(f"#!{sys.executable}\n{STUB}")
    aws.chmod(0o755)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"status": status, "create_fails": env.pop("CREATE_FAILS", "") == "1"}))
    log = tmp_path / "aws.log"
    log.write_text("")
    build = tmp_path / "build"
    build.mkdir(exist_ok=True)
    (build / "sam.json").write_text(json.dumps({"Resources": {}}))
    environment = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "AWS_DEFAULT_REGION": "us-east-1",
        "STUB_STATE": str(state),
        "STUB_LOG": str(log),
        "SKIP_PACKAGE": "1",
        "BUILD_DIR": str(build),
        "PYTHON": sys.executable,
        **env,
    }
    result = subprocess.run(
        ["bash", str(ROOT / "infra" / "deploy.sh"), "dev", "artifacts"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return result, calls


def _ran(calls: list[list[str]], *command: str) -> bool:
    return any(call[: len(command)] == list(command) for call in calls)


@pytest.mark.parametrize("status", ["ROLLBACK_COMPLETE", "ROLLBACK_FAILED"])
def test_a_stack_that_failed_to_create_is_recognised_and_explained(tmp_path: Path, status: str) -> None:
    result, calls = _deploy(tmp_path, status)
    assert result.returncode == 3
    assert "failed to create" in result.stderr
    assert "aws cloudformation delete-stack --stack-name keyport-dev" in result.stderr
    assert "wait stack-delete-complete" in result.stderr
    assert not _ran(calls, "cloudformation", "package") and not _ran(calls, "cloudformation", "deploy")


def test_a_busy_stack_is_left_alone(tmp_path: Path) -> None:
    result, calls = _deploy(tmp_path, "UPDATE_IN_PROGRESS")
    assert result.returncode == 3 and "busy" in result.stderr
    assert not _ran(calls, "cloudformation", "deploy")


def test_a_create_that_rolls_back_says_what_to_do(tmp_path: Path) -> None:
    result, calls = _deploy(tmp_path, "NONE", CREATE_FAILS="1")
    assert result.returncode == 3
    assert "delete-stack" in result.stderr
    assert _ran(calls, "cloudformation", "deploy")


def test_a_first_deploy_passes_no_secret_on_any_command_line(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"current": SECRET, "previous": "", "publishable": ""}))
    result, calls = _deploy(tmp_path, "NONE", SECRETS_FILE=str(keys), PUBLIC_URL="https://keyport.example.com")
    assert result.returncode == 0, result.stderr
    deploy = next(c for c in calls if c[:2] == ["cloudformation", "deploy"])
    assert "PublicUrl=https://keyport.example.com" in deploy
    assert not any("SecretKey" in a for a in deploy)
    put = next(c for c in calls if c[:2] == ["secretsmanager", "put-secret-value"])
    assert put[put.index("--secret-string") + 1] == f"file://{keys}"
    assert SECRET not in json.dumps(calls)
    assert "get-secret-value --secret-id arn:aws:secretsmanager:" in result.stderr


def test_without_a_secrets_file_the_generated_key_is_kept(tmp_path: Path) -> None:
    result, calls = _deploy(tmp_path, "CREATE_COMPLETE")
    assert result.returncode == 0, result.stderr
    assert not _ran(calls, "secretsmanager")
    assert "get-secret-value" in result.stderr


@pytest.mark.parametrize("content", ['{"current": "short"}', "not json", '{"previous": "x"}'])
def test_a_bad_secrets_file_is_refused_before_anything_runs(tmp_path: Path, content: str) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(content)
    result, calls = _deploy(tmp_path, "NONE", SECRETS_FILE=str(keys))
    assert result.returncode == 2 and "SECRETS_FILE" in result.stderr
    assert all(call[0] == "configure" for call in calls)


def test_the_script_is_valid_bash() -> None:
    for script in ("deploy.sh", "package.sh"):
        checked: Any = subprocess.run(["bash", "-n", str(ROOT / "infra" / script)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
