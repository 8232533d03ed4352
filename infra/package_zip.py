"""Slims the Lambda zip that ``chalice package`` writes to what the runtime imports or reads.

Lambda downloads and unpacks the zip on every cold start. ``chalice package`` bundles each runtime
dependency whole: all of botocore's service models (some 400 services, 15 MB zipped, where Keyport calls
six), the wheels' RECORD files, licences and scripts, and command lines, servers, framework integrations
and test suites that no Lambda code path imports. :func:`slim` rewrites the zip without them (with
botocore's endpoints.json cut to the services called, and the extensions' symbol tables stripped), and
:func:`check` says whether its top-level entries are exactly :data:`SHIPPED`.

    python -m infra.package_zip build/dev/deployment.zip     (infra/package.sh runs it after chalice package)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from chalicelib.aws import SERVICES

__all__ = ["SHIPPED", "check", "endpoints_of_services", "keep", "main", "slim", "stripped", "top_level"]

# Every top-level entry of the zip: the app, the integrations catalog, Chalice's runtime module, and the
# packages (and single-module distributions) of requirements.txt with their metadata. Adding a runtime
# dependency means adding its names here; tests/unit/test_package_zip.py holds this list to requirements.txt.
SHIPPED = frozenset(
    {
        "app.py",
        "chalicelib",
        "integrations",
        "chalice",
        # requirements.txt, by distribution: what each installs at the top level
        "pynamodb",
        "botocore",
        "jmespath",
        "dateutil",
        "six.py",
        "urllib3",
        "cryptography",
        "cffi",
        "_cffi_backend",  # an extension module
        "pycparser",
        "requests",
        "certifi",
        "charset_normalizer",
        "idna",
        "authlib",
        "joserfc",
        "pydantic",
        "pydantic_core",
        "annotated_types",
        "typing_extensions.py",
        "typing_inspection",
        "dulwich",
        "jinja2",
        "markupsafe",
    }
)

# botocore's own data files, read when a session or a client is made (endpoints, partitions, defaults, retries).
BOTOCORE_DATA = frozenset({"endpoints.json", "partitions.json", "sdk-default-configuration.json", "_retry.json"})

# Paths (prefixes inside the zip) no Lambda code path imports or reads, each with its reason.
DROPPED_PREFIXES = (
    "botocore/cacert.pem",  # botocore takes its CA bundle from certifi, which is shipped (requests needs it)
    "pydantic/v1/",  # pydantic 1's API, imported only by code written for it (Keyport's models are pydantic 2)
    "pydantic/mypy.py",  # the mypy plugin
    "authlib/integrations/",  # Flask, Django, Starlette, httpx and requests sessions; Keyport signs by itself
    "dulwich/cli.py",  # dulwich's command line
    "dulwich/__main__.py",
    "dulwich/web.py",  # dulwich's git HTTP server (Keyport only fetches)
    "dulwich/lfs_server.py",
    "dulwich/aiohttp/",
    "dulwich/contrib/",
    "dulwich/cloud/",
)

# Metadata that importlib.metadata reads (versions, entry points: pydantic looks for plugins); the rest of
# a dist-info directory (RECORD, WHEEL, INSTALLER, licences) is for installers.
DIST_INFO_KEPT = frozenset({"METADATA", "entry_points.txt"})


def top_level(name: str) -> str:
    """The top-level entry a zip member belongs to (an extension module by its name: ``_cffi_backend``).

    A single-module distribution compiled to sourceless bytecode (``six.pyc``) is its source's entry.
    """
    top = name.split("/", 1)[0]
    if top.endswith(".pyc"):
        return top.removesuffix("c")
    return top.split(".", 1)[0] if top.endswith(".so") else top


def keep(name: str) -> bool:
    """Whether the zip member ``name`` ships."""
    parts = name.split("/")
    root = parts[0]
    if "__pycache__" in parts or name.endswith((".pyc", ".pyi")) or "tests" in parts[1:-1]:
        return False
    if root.endswith(".dist-info"):
        return len(parts) == 2 and parts[1] in DIST_INFO_KEPT
    if root.endswith(".data") or name.startswith(DROPPED_PREFIXES):
        return False
    if name.startswith("botocore/data/"):
        return _keep_botocore_data(parts[2:])
    return True


def _keep_botocore_data(parts: list[str]) -> bool:
    """botocore/data/...: its own files, and the models of the services Keyport calls (without examples)."""
    if len(parts) == 1:
        return parts[0] in BOTOCORE_DATA
    return parts[0] in SERVICES and parts[-1] != "examples-1.json"


ENDPOINTS = "botocore/data/endpoints.json"


def endpoints_of_services(source: zipfile.ZipFile) -> bytes:
    """botocore's endpoints.json with every partition, but only the services Keyport calls.

    Every botocore session parses it when it makes its first client: 1.25 MB of JSON for some 300
    services, 15 to 20 ms of a cold start; the entries of six services parse in about 0.2 ms. Services
    are keyed by their model's endpoint prefix (the management API's is ``execute-api``).
    """
    endpoints = json.loads(source.read(ENDPOINTS))
    prefixes = {_endpoint_prefix(source, service) for service in SERVICES}
    for partition in endpoints["partitions"]:
        partition["services"] = {k: v for k, v in partition["services"].items() if k in prefixes}
    return json.dumps(endpoints, separators=(",", ":")).encode()


def _endpoint_prefix(source: zipfile.ZipFile, service: str) -> str:
    folder = f"botocore/data/{service}/"
    models = sorted(n for n in source.namelist() if n.startswith(folder) and "/service-2.json" in n)
    if not models:
        return service
    raw = source.read(models[-1])  # the newest API version, as botocore's loader picks it
    model = json.loads(gzip.decompress(raw) if models[-1].endswith(".gz") else raw)
    return str(model["metadata"].get("endpointPrefix", service))


def slim(path: Path) -> tuple[int, int]:
    """Rewrite the zip at ``path`` with only the members that ship; its (zipped, unzipped) sizes before."""
    before = (path.stat().st_size, _unzipped(path))
    fd, temporary = tempfile.mkstemp(dir=path.parent, suffix=".zip")
    os.close(fd)
    try:
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(temporary, "w") as out:
            for info in source.infolist():
                if keep(info.filename):
                    data = endpoints_of_services(source) if info.filename == ENDPOINTS else source.read(info)
                    data = stripped(data) if info.filename.endswith(".so") else data
                    out.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return before


def stripped(library: bytes) -> bytes:
    """A shared library without the symbol table that only debuggers read (``strip --strip-unneeded``).

    The loader links by the dynamic symbols, which stay. cryptography's Rust extension ships its full
    symbol table: 2.9 MB of its 14.4 MB, 0.5 MB zipped; 0.6 MB over every extension. ``$STRIP`` names
    another strip for ELF (binutils' or llvm-strip).
    """
    tool = shutil.which(os.environ.get("STRIP", "strip"))
    if tool is None:
        raise SystemExit("infra/package_zip.py: no strip for ELF libraries (apt-get install binutils, or set STRIP)")
    with tempfile.TemporaryDirectory(prefix="keyport-strip-") as directory:
        library_path = Path(directory) / "library.so"
        library_path.write_bytes(library)
        subprocess.run([tool, "--strip-unneeded", str(library_path)], check=True)
        return library_path.read_bytes()


def _unzipped(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def check(names: Iterable[str]) -> list[str]:
    """What is wrong with a zip holding ``names``: top-level entries missing from, or beyond, :data:`SHIPPED`."""
    found = {top_level(n) for n in names if not top_level(n).endswith(".dist-info")} - {"__pycache__"}
    problems = [f"deployment.zip has no {name} (SHIPPED lists it)" for name in sorted(SHIPPED - found)]
    problems += [f"deployment.zip ships {name}, which SHIPPED does not list" for name in sorted(found - SHIPPED)]
    models = {n.split("/")[2] for n in names if n.startswith("botocore/data/") and n.count("/") > 3}
    problems += [f"deployment.zip has no botocore model for {s}" for s in sorted(SERVICES - models)]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zip", type=Path, help="the deployment.zip chalice package wrote")
    args = parser.parse_args(argv)
    zipped, unzipped = slim(args.zip)
    with zipfile.ZipFile(args.zip) as archive:
        names = archive.namelist()
    print(
        f"deployment.zip slimmed: {zipped / 1e6:.1f} -> {args.zip.stat().st_size / 1e6:.1f} MB zipped, "
        f"{unzipped / 1e6:.1f} -> {_unzipped(args.zip) / 1e6:.1f} MB unzipped",
        file=sys.stderr,
    )
    problems = check(names)
    for problem in problems:
        print(f"infra/package_zip.py: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
