"""After ``chalice package``: the merged template and the Lambda zip, checked (and the zip stripped of bytecode)."""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

from infra.template.names import BUILD_WORKER, PROJECT_DIR, RUNTIME
from infra.template.stage import Stage

# CloudFormation's limit for a template body read from S3 (infra/deploy.sh uploads it compacted).
TEMPLATE_SIZE_LIMIT = 1024 * 1024


def finish(stage: Stage, outdir: Path, *, project_dir: Path = PROJECT_DIR) -> list[str]:
    """Strip bytecode caches from the zip, then check the merged template and the zip; the problems found."""
    template = json.loads((outdir / "sam.json").read_text())
    redeploy_websocket_on_change(template)
    # Compacted, as CloudFormation will read it: indented, the file passes cfn-lint's 1,000,000 bytes.
    (outdir / "sam.json").write_text(json.dumps(template, separators=(",", ":")) + "\n")
    problems = _check_template(stage, template)
    compact = len(json.dumps(template, separators=(",", ":")).encode())
    print(f"sam.json: {compact / 1e3:.0f} kB compacted (CloudFormation limit: 1 MiB)", file=sys.stderr)
    if compact > TEMPLATE_SIZE_LIMIT:
        problems.append(f"the template takes {compact} bytes compacted, over CloudFormation's {TEMPLATE_SIZE_LIMIT}")
    zip_path = outdir / "deployment.zip"
    _strip_bytecode(zip_path)
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        unzipped = sum(i.file_size for i in archive.infolist())
    abi = "cpython-" + RUNTIME.removeprefix("python").replace(".", "") + "-x86_64-linux-gnu"
    foreign = sorted({n.split(".")[-2] for n in names if n.endswith(".so") and ".cpython-" in n} - {abi})
    if foreign:
        problems.append(f"deployment.zip holds extensions built for {', '.join(foreign)}, not {RUNTIME}")
    for required in ("app.py", "chalicelib/__init__.py", "chalicelib/settings.py"):
        if required not in names:
            problems.append(f"deployment.zip has no {required}")
    for source in sorted((project_dir / "integrations").glob("*.json")):
        if f"integrations/{source.name}" not in names:
            problems.append(f"deployment.zip has no integrations/{source.name} (is vendor/integrations a link?)")
    zipped = zip_path.stat().st_size
    print(
        f"deployment.zip: {zipped / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB unzipped, {len(names)} files "
        "(Lambda limits: 50 MB zipped upload, 250 MB unzipped)",
        file=sys.stderr,
    )
    if unzipped > 250 * 1024 * 1024:
        problems.append("deployment.zip unzips to more than Lambda's 250 MB")
    return problems


def _check_template(stage: Stage, template: dict[str, Any]) -> list[str]:
    resources = template.get("Resources", {})
    problems = [f"{name} has no Type after the merge" for name, r in resources.items() if "Type" not in r]
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        if resources.get(name + "Policy", {}).get("Type") != "AWS::IAM::Policy":
            problems.append(f"role {name} gets no policy of its own (template generated for other functions?)")
        if resource.get("Properties", {}).get("Policies"):
            problems.append(f"role {name} keeps Chalice's inline policy")
    for name, resource in resources.items():
        if resource.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            problems += _check_function(stage, name, resource["Properties"])
    build_worker = stage.function(BUILD_WORKER)
    if build_worker is not None:
        timeout = resources.get(build_worker.logical_id, {}).get("Properties", {}).get("Timeout")
        if timeout != build_worker.timeout:
            problems.append(f"{BUILD_WORKER}: timeout {timeout}, the jobs' deadline assumed {build_worker.timeout}")
    return problems


def _check_function(stage: Stage, name: str, properties: dict[str, Any]) -> list[str]:
    problems = []
    variables = properties.get("Environment", {}).get("Variables", {})
    for key, value in (
        ("STAGE", stage.name),
        ("TABLE_PREFIX", stage.table_prefix),
        ("KMS_KEY_ID", stage.key_alias),
    ):
        if variables.get(key) != value:
            problems.append(f"function {name}: {key} is {variables.get(key)!r}, the template assumed {value!r}")
    for key in ("SECRET_KEY", "PUBLISHABLE_KEY", "HASH_KEY", "SECRET_KEY_PREVIOUS"):
        if key in variables:
            problems.append(f"function {name}: {key} in plain environment (it belongs in Secrets Manager)")
    if properties.get("Runtime") != RUNTIME:
        problems.append(f"function {name}: runtime {properties.get('Runtime')}, not {RUNTIME}")
    return problems


def redeploy_websocket_on_change(template: dict[str, Any]) -> str | None:
    """Name the websocket API's deployment after a hash of its routes, so a change of routes redeploys.

    Chalice names it ``WebsocketAPIDeployment`` for ever: CloudFormation then never creates a new
    deployment, and the stage keeps serving the routes of the first one. Returns the new logical id.
    """

    resources = template.get("Resources", {})
    deployment = resources.pop("WebsocketAPIDeployment", None)
    if deployment is None:
        return None
    routes = {
        name: resource
        for name, resource in sorted(resources.items())
        if resource.get("Type") in ("AWS::ApiGatewayV2::Route", "AWS::ApiGatewayV2::Integration")
    }
    digest = hashlib.sha256(json.dumps(routes, sort_keys=True).encode()).hexdigest()[:10]
    logical_id = "WebsocketAPIDeployment" + digest
    resources[logical_id] = deployment
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if properties.get("DeploymentId") == {"Ref": "WebsocketAPIDeployment"}:
            properties["DeploymentId"] = {"Ref": logical_id}
    return logical_id


def _strip_bytecode(zip_path: Path) -> None:
    """Drop ``__pycache__`` entries (left by local runs in chalicelib/) so the zip holds sources only."""
    with zipfile.ZipFile(zip_path) as archive:
        entries = archive.infolist()
        if not any("__pycache__/" in e.filename for e in entries):
            return
        stripped = zip_path.with_suffix(".stripped.zip")
        with zipfile.ZipFile(stripped, "w", zipfile.ZIP_DEFLATED) as out:
            for entry in entries:
                if "__pycache__/" not in entry.filename:
                    out.writestr(entry, archive.read(entry.filename))
    stripped.replace(zip_path)
