"""The Lambda package ships the botocore models the code calls, and exactly the intended top-level packages."""

from __future__ import annotations

import ast
import ctypes
import gzip
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from chalicelib.aws import SERVICES
from infra import package_bytecode, package_zip

ROOT = Path(__file__).resolve().parents[2]

# What the app adds to its requirements' packages: its own code, the catalog, and Chalice's runtime module.
APP_ENTRIES = {"app.py", "chalicelib", "integrations", "chalice"}


def clients_made(source: str) -> set[str]:
    """The AWS services a Python source makes clients of (a non-literal service name is reported as "?")."""
    tree = ast.parse(source)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(_name(b) == "Model" for b in node.bases):
            found.add("dynamodb")  # a PynamoDB model
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        if name == "management_client":
            found.add("apigatewaymanagementapi")
        elif name in ("client", "create_client", "resource", "_make_client") and node.args:
            first = node.args[0]
            found.add(first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else "?")
    return found


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _sources() -> list[Path]:
    """The Lambda's code, but the factory itself (chalicelib/aws.py refuses a service not in SERVICES)."""
    factory = ROOT / "chalicelib" / "aws.py"
    return [ROOT / "app.py", *sorted(p for p in (ROOT / "chalicelib").rglob("*.py") if p != factory)]


def test_the_scanner_sees_every_way_of_making_a_client() -> None:
    source = """
from chalicelib import aws
import boto3
class Token(Model): ...
aws.client("kms"); aws.management_client(url); boto3.client("sqs"); boto3.resource("s3")
session.create_client("ssm", region_name="x"); aws.client(name)
"""
    assert clients_made(source) == {"dynamodb", "kms", "apigatewaymanagementapi", "sqs", "s3", "ssm", "?"}


def test_every_aws_client_the_code_makes_has_its_model_shipped() -> None:
    used: dict[str, list[str]] = {}
    for path in _sources():
        for service in clients_made(path.read_text()):
            used.setdefault(service, []).append(str(path.relative_to(ROOT)))
    assert "?" not in used, f"a client is made from a computed name in {used.get('?')}: name the service"
    unshipped = {s: files for s, files in used.items() if s not in SERVICES}
    assert not unshipped, f"add these to chalicelib.aws.SERVICES (the package ships their models): {unshipped}"
    assert set(used) == SERVICES, f"aws.SERVICES lists services no code calls: {sorted(SERVICES - set(used))}"


def test_a_client_outside_the_shipped_list_is_refused() -> None:
    from chalicelib import aws

    with pytest.raises(ValueError, match=r"not in aws\.SERVICES"):
        aws._make_client("sqs")


ENDPOINTS = {
    "version": 3,
    "partitions": [
        {"partition": p, "regions": {"r-1": {}}, "services": {"kms": {"x": 1}, "ec2": {}, "execute-api": {"y": 2}}}
        for p in ("aws", "aws-cn")
    ],
}


def _model(prefix: str) -> bytes:
    return gzip.compress(json.dumps({"metadata": {"endpointPrefix": prefix}}).encode())


def _fixture_zip(path: Path, names: list[str]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            if name.endswith("endpoints.json"):
                archive.writestr(name, json.dumps(ENDPOINTS))
            elif name.endswith("service-2.json.gz"):
                service = name.split("/")[2]
                archive.writestr(name, _model({"apigatewaymanagementapi": "execute-api"}.get(service, service)))
            else:
                archive.writestr(name, "x" * 100)


def test_slimming_keeps_the_runtime_and_the_models_of_the_services_called(tmp_path: Path) -> None:
    kept = [
        "app.py",
        "chalicelib/__init__.py",
        "integrations/github.json",
        "botocore/session.py",
        "botocore/data/endpoints.json",
        "botocore/data/partitions.json",
        "botocore/data/sdk-default-configuration.json",
        "botocore/data/_retry.json",
        "botocore/data/kms/2014-11-01/service-2.json.gz",
        "botocore/data/kms/2014-11-01/endpoint-rule-set-1.json.gz",
        "botocore/data/apigatewaymanagementapi/2018-11-29/service-2.json.gz",
        "botocore/data/dynamodb/2012-08-10/paginators-1.json",
        "pynamodb-6.1.0.dist-info/METADATA",
        "pydantic-2.14.3.dist-info/entry_points.txt",
        "dulwich/client.py",
        "pydantic/main.py",
    ]
    dropped = [
        "chalicelib/__pycache__/aws.cpython-313.pyc",
        "botocore/cacert.pem",
        "botocore/data/ec2/2016-11-15/service-2.json.gz",
        "botocore/data/kms/2014-11-01/examples-1.json",
        "pynamodb-6.1.0.dist-info/RECORD",
        "pynamodb-6.1.0.dist-info/licenses/LICENSE",
        "jmespath-1.1.0.data/scripts/jp.py",
        "dulwich/cli.py",
        "dulwich/tests/test_client.py",
        "pydantic/v1/main.py",
        "authlib/integrations/flask_client/__init__.py",
        "cryptography/hazmat/bindings/_rust/__init__.pyi",
    ]
    path = tmp_path / "deployment.zip"
    _fixture_zip(path, kept + dropped)
    package_zip.slim(path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted(kept)
        assert archive.testzip() is None
        endpoints = json.loads(archive.read("botocore/data/endpoints.json"))
    # Every partition stays, with the services called, by endpoint prefix (the management API's is execute-api).
    assert [p["partition"] for p in endpoints["partitions"]] == ["aws", "aws-cn"]
    assert all(p["services"] == {"kms": {"x": 1}, "execute-api": {"y": 2}} for p in endpoints["partitions"])
    assert endpoints["partitions"][0]["regions"] == {"r-1": {}}


def test_the_check_names_missing_and_unexpected_top_level_entries() -> None:
    names = [f"{top}/__init__.py" for top in package_zip.SHIPPED - {"pycparser"}] + ["boto3/__init__.py"]
    names += [f"botocore/data/{s}/2020-01-01/service-2.json.gz" for s in SERVICES - {"kms"}]
    assert package_zip.check(names) == [
        "deployment.zip has no pycparser (SHIPPED lists it)",
        "deployment.zip ships boto3, which SHIPPED does not list",
        "deployment.zip has no botocore model for kms",
    ]


def _requirements() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [m.group(1) for line in lines if (m := re.match(r"^([A-Za-z0-9_.-]+)==", line))]


def _top_level_of(distribution: str) -> set[str]:
    files = importlib.metadata.distribution(distribution).files or []
    tops = {package_zip.top_level(str(f)) for f in files if not str(f).startswith("..")}
    return {t for t in tops if not t.endswith((".dist-info", ".data")) and t != "__pycache__"}


def test_the_shipped_list_is_the_app_and_what_requirements_install() -> None:
    installed = set().union(*(_top_level_of(d) for d in _requirements()))
    assert installed | APP_ENTRIES == set(package_zip.SHIPPED)


@pytest.mark.parametrize("zip_path", sorted(ROOT.glob("build/*/deployment.zip")) or [None])
def test_the_built_package_ships_the_intended_top_level_packages(zip_path: Path | None) -> None:
    if zip_path is None:
        pytest.skip("no build/*/deployment.zip: make package builds one (make check and .ci/run do)")
    with zipfile.ZipFile(zip_path) as archive:
        assert package_zip.check(archive.namelist()) == []


def test_the_trimmed_endpoints_resolve_every_service_as_botocore_does(tmp_path: Path) -> None:
    import botocore
    import botocore.session

    data = Path(botocore.__file__).parent / "data"
    source = tmp_path / "source.zip"
    with zipfile.ZipFile(source, "w") as archive:
        archive.write(data / "endpoints.json", "botocore/data/endpoints.json")
        for service in SERVICES:
            for model in (data / service).rglob("service-2.json*"):
                archive.write(model, f"botocore/data/{model.relative_to(data)}")
    with zipfile.ZipFile(source) as archive:
        trimmed = package_zip.endpoints_of_services(archive)
    assert len(trimmed) < 100_000
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "endpoints.json").write_bytes(trimmed)
    full, slim = botocore.session.get_session(), botocore.session.get_session()
    slim.set_config_variable("data_path", str(tmp_path / "data"))  # searched before botocore's own data
    partitions = slim.get_component("data_loader").load_data("endpoints")["partitions"]
    assert max(len(p["services"]) for p in partitions) <= len(SERVICES)  # the trimmed file is the one read

    def resolved(session: botocore.session.Session, service: str, region: str) -> tuple[str, str]:
        management = {"endpoint_url": f"https://a1.execute-api.{region}.amazonaws.com/api"}
        extra = management if service == "apigatewaymanagementapi" else {}
        made = session.create_client(
            service, region_name=region, aws_access_key_id="k", aws_secret_access_key="s", **extra
        )
        return made.meta.endpoint_url, made.meta.region_name

    for region in ("us-east-1", "cn-north-1", "us-gov-west-1"):
        for service in sorted(SERVICES):
            assert resolved(slim, service, region) == resolved(full, service, region), (service, region)


def test_bytecode_is_compiled_only_by_the_runtimes_python() -> None:
    package_bytecode.check_interpreter((3, 13), package_bytecode.MAGIC)
    with pytest.raises(SystemExit, match=r"Python 3\.13"):
        package_bytecode.check_interpreter((3, 12), package_bytecode.MAGIC)
    with pytest.raises(SystemExit, match=r"Python 3\.13"):
        package_bytecode.check_interpreter((3, 13), (3550).to_bytes(2, "little") + b"\r\n")  # 3.12's pycs


@pytest.mark.skipif(sys.version_info[:2] != package_bytecode.RUNTIME, reason="the runtime's Python")
def test_the_runtimes_magic_number_is_the_one_bytecode_is_checked_against() -> None:
    assert importlib.util.MAGIC_NUMBER == package_bytecode.MAGIC


def test_a_sourceless_module_is_its_sources_top_level_entry() -> None:
    assert package_zip.top_level("six.pyc") == "six.py"
    assert package_zip.top_level("botocore/client.pyc") == "botocore"
    names = [f"{top}/__init__.py" for top in package_zip.SHIPPED - {"six.py"}] + ["six.pyc"]
    names += [f"botocore/data/{s}/2020-01-01/service-2.json.gz" for s in SERVICES]
    assert package_zip.check(names) == []


# A slimmed package: the app, its own package, a third-party package and a single-module distribution.
FIXTURE = {
    "app.py": "from chalicelib import answer\n",
    "chalicelib/__init__.py": "",
    "chalicelib/answer.py": (
        "from vendored import core\ndef fail():\n    raise KeyError('no answer')\nVALUE = core.BASE + 1\n"
    ),
    "vendored/__init__.py": "",
    "vendored/core.py": "BASE = 41\n",
    "vendored/unused.py": "UNUSED = 1\n",
    "single.py": "SINGLE = 1\n",
}
PROBE = """
import json, traceback, app, single, vendored.core as core
from chalicelib import answer
try:
    answer.fail()
except KeyError:
    trace = traceback.format_exc()
print(answer.VALUE, type(core.__loader__).__name__, single.SINGLE, json.dumps(trace))
"""


@pytest.mark.skipif(sys.version_info[:2] != package_bytecode.RUNTIME, reason="compiled by the runtime's Python")
def test_a_slimmed_package_imports_its_cold_start_modules_from_bytecode(tmp_path: Path) -> None:
    path = tmp_path / "deployment.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, source in FIXTURE.items():
            archive.writestr(name, source)
    cold = set(FIXTURE) - {"vendored/unused.py"}
    assert package_bytecode.compile_cold_start(path, cold) == (3, 3)
    tag = sys.implementation.cache_tag
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        pycs = [archive.read(n) for n in names if n.endswith(".pyc")]
        archive.extractall(tmp_path / "task")
    # The app's modules keep their sources beside their bytecode; a third-party module is replaced by its own.
    assert names == {
        *("app.py", f"__pycache__/app.{tag}.pyc"),
        *("chalicelib/__init__.py", f"chalicelib/__pycache__/__init__.{tag}.pyc"),
        *("chalicelib/answer.py", f"chalicelib/__pycache__/answer.{tag}.pyc"),
        *("vendored/__init__.pyc", "vendored/core.pyc", "vendored/unused.py", "single.pyc"),
    }
    assert all(pyc[:4] == package_bytecode.MAGIC and int.from_bytes(pyc[4:8], "little") == 0b01 for pyc in pycs)
    # An unchecked pyc is used whatever the source says (the zip keeps no source timestamps): line 4 differs.
    task = tmp_path / "task"
    (task / "chalicelib" / "answer.py").write_text(FIXTURE["chalicelib/answer.py"].replace("+ 1", "+ 0"))
    files = sorted(task.rglob("*"))
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}  # as on Lambda: nothing is written
    out = subprocess.run([sys.executable, "-S", "-c", PROBE], cwd=task, env=env, capture_output=True, text=True)
    value, loader, single, trace = out.stdout.split(" ", 3)
    assert (value, loader, single) == ("42", "SourcelessFileLoader", "1"), out.stderr
    assert "raise KeyError('no answer')" in json.loads(trace), trace  # the app's traceback shows its source line
    assert sorted(task.rglob("*")) == files


def _shipped_module(path: Path) -> str | None:
    """The zip path of a module file imported from this tree or the venv, if the package ships it."""
    for base in (ROOT, *map(Path, {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})):
        if path.is_relative_to(base) and ".venv" not in path.relative_to(base).parts:
            name = path.relative_to(base).as_posix()
            return name if package_zip.top_level(name) in package_zip.SHIPPED and name.endswith(".py") else None
    return None


def test_the_cold_start_list_holds_what_importing_the_app_imports() -> None:
    # The list is written from every service's first request; a module the app's import now needs is missing
    # from it when the list is out of date (its bytecode would not ship).
    probe = (
        "import json, sys, app; print(json.dumps([getattr(m, '__file__', None) for m in list(sys.modules.values())]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    imported = {_shipped_module(Path(f).resolve()) for f in json.loads(out.stdout.splitlines()[-1]) if f}
    cold = package_bytecode.cold_start()
    assert "app.py" in imported and "chalice/app.py" in imported
    assert imported - {None} <= cold, (
        "python -m bench.first_request --package ZIP --record infra/package_cold_start.txt"
    )
    assert all(name.endswith(".py") and package_zip.top_level(name) in package_zip.SHIPPED for name in cold)


@pytest.mark.skipif(shutil.which("strip") is None, reason="no strip (binutils)")
def test_a_stripped_extension_keeps_what_the_loader_links_by(tmp_path: Path) -> None:
    import markupsafe._speedups

    library = Path(markupsafe._speedups.__file__ or "").read_bytes()
    stripped = package_zip.stripped(library)
    assert len(stripped) < len(library)
    (tmp_path / "stripped.so").write_bytes(stripped)
    assert ctypes.CDLL(str(tmp_path / "stripped.so")).PyInit__speedups is not None


@pytest.mark.skipif(sys.version_info[:2] != package_bytecode.RUNTIME, reason="compiled by the runtime's Python")
def test_a_cold_start_list_naming_a_module_the_zip_lacks_fails_the_build(tmp_path: Path) -> None:
    path = tmp_path / "deployment.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("app.py", "")
    with pytest.raises(SystemExit, match=r"has no botocore/gone\.py: the list .* is out of date"):
        package_bytecode.compile_cold_start(path, {"app.py", "botocore/gone.py"})
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["app.py"]  # left as it was
