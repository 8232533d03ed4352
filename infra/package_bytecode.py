"""Adds compiled bytecode of the cold-start modules to the Lambda zip (``BYTECODE=1 make package``).

Lambda's code directory is read-only, so Python cannot keep the bytecode it compiles: without
``__pycache__`` in the zip, every cold start compiles every module it imports. For the first request
of a service that is some 250 modules, about 300 ms of CPU (bench/first_request.py ``--package``
measures it). This adds ``__pycache__/*.cpython-313.pyc`` of the packages a first request imports,
as unchecked-hash pycs: Python loads them without comparing the sources' timestamps, which the zip
does not keep. The cost is about 2.3 MB more zipped (docs/performance.md), so it is opt-in.

    python -m infra.package_bytecode build/dev/deployment.zip     (after infra.template --finish)
"""

from __future__ import annotations

import argparse
import compileall
import py_compile
import sys
import tempfile
import zipfile
from pathlib import Path

from infra.package_zip import top_level

__all__ = ["COLD_START", "RUNTIME", "add_bytecode", "main"]

RUNTIME = (3, 13)  # the Lambda runtime's Python (infra/template/names.py RUNTIME): pycs are per version

# What the first request of each service imports (bench/first_request.py lists those requests); the rest
# (pydantic, dulwich, jinja2, authlib...) compiles when a request first needs it.
COLD_START = frozenset(
    {
        "app.py",
        "chalicelib",
        "chalice",
        "pynamodb",
        "botocore",
        "jmespath",
        "dateutil",
        "six.py",
        "urllib3",
        "cryptography",
        "requests",
        "certifi",
        "charset_normalizer",
        "idna",
        "typing_extensions.py",
    }
)


def add_bytecode(path: Path, tops: frozenset[str] = COLD_START) -> int:
    """Append unchecked-hash bytecode of every module under ``tops`` to the zip at ``path``; how many."""
    if sys.version_info[:2] != RUNTIME:
        raise SystemExit(f"bytecode must be compiled by Python {RUNTIME[0]}.{RUNTIME[1]}, the Lambda runtime's")
    with tempfile.TemporaryDirectory(prefix="keyport-bytecode-") as directory:
        with zipfile.ZipFile(path) as archive:
            sources = [n for n in archive.namelist() if n.endswith(".py") and top_level(n) in tops]
            if any("__pycache__/" in n for n in archive.namelist()):
                raise SystemExit(f"{path} holds bytecode already")
            archive.extractall(directory, sources)
        mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
        compileall.compile_dir(directory, quiet=2, invalidation_mode=mode, workers=1)
        compiled = sorted(Path(directory).rglob("*.pyc"))
        with zipfile.ZipFile(path, "a") as archive:
            for pyc in compiled:
                name = pyc.relative_to(directory).as_posix()
                archive.write(pyc, name, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return len(compiled)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zip", type=Path, help="the slimmed deployment.zip")
    args = parser.parse_args(argv)
    before = args.zip.stat().st_size
    count = add_bytecode(args.zip)
    print(
        f"deployment.zip: bytecode of {count} cold-start modules added, "
        f"{before / 1e6:.1f} -> {args.zip.stat().st_size / 1e6:.1f} MB zipped",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
