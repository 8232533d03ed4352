"""Compiles the modules a cold start imports into the Lambda zip (infra/package.sh; ``BYTECODE=0`` leaves it out).

Lambda's code directory is read-only, so Python cannot keep the bytecode it compiles: without bytecode
in the zip, every cold start compiles every module it imports, some 250 for the first request of a
service, about 300 ms of CPU (bench/first_request.py ``--package`` measures it). This compiles the
modules listed in :data:`COLD_START_LIST` (which ``python -m bench.first_request --package ZIP --record``
writes from the first request of every service), with the runtime's Python 3.13:

- the app's own (``app.py``, ``chalicelib/``) to ``__pycache__/*.cpython-313.pyc`` beside its sources,
  so that tracebacks show the app's source lines;
- the third-party modules to sourceless bytecode: ``x.py`` is replaced by ``x.pyc``, which Python
  imports when no source is there. Zipped, bytecode is about 1.8 times its source, so shipping one
  instead of both keeps the zip within 12 MB; the modules no cold start imports keep their sources.

Every pyc is unchecked-hash: nothing compares it with a source timestamp, which the zip does not keep,
and the same sources give the same bytes. A pyc is read only by the Python version that wrote it (its
magic number, :data:`MAGIC`), so this refuses to run on any Python but the runtime's.

    python -m infra.package_bytecode build/dev/deployment.zip     (after infra.template --finish)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import py_compile
import sys
import tempfile
import zipfile
from collections.abc import Collection
from pathlib import Path

from infra.package_zip import check, top_level

__all__ = ["COLD_START_LIST", "MAGIC", "OWN", "RUNTIME", "check_interpreter", "cold_start", "compile_cold_start"]

RUNTIME = (3, 13)  # the Lambda runtime's Python (infra/template/names.py RUNTIME): pycs are per version
MAGIC = (3571).to_bytes(2, "little") + b"\r\n"  # the first bytes of every pyc CPython 3.13 writes and reads

# The app's own code keeps its sources (tracebacks show their lines), with bytecode in __pycache__.
OWN = frozenset({"app.py", "chalicelib"})

COLD_START_LIST = Path(__file__).with_name("package_cold_start.txt")


def check_interpreter(
    version: tuple[int, ...] = tuple(sys.version_info[:2]), magic: bytes = importlib.util.MAGIC_NUMBER
) -> None:
    """Exit unless this Python (its ``version`` and ``magic`` number) writes the bytecode the runtime reads."""
    if version != RUNTIME or magic != MAGIC:
        raise SystemExit(
            f"bytecode must be compiled by Python {RUNTIME[0]}.{RUNTIME[1]}, the Lambda runtime's (magic number "
            f"{MAGIC!r}); this is Python {'.'.join(map(str, version))} ({magic!r})"
        )


def cold_start(path: Path = COLD_START_LIST) -> frozenset[str]:
    """The zip paths of the modules a cold start imports (one a line; ``#`` starts a comment)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return frozenset(line for line in lines if line)


def compile_cold_start(path: Path, modules: Collection[str]) -> tuple[int, int]:
    """Rewrite the zip at ``path`` with ``modules`` compiled; how many (beside their sources, sourceless)."""
    check_interpreter()
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any("__pycache__/" in n or n.endswith(".pyc") for n in names):
        raise SystemExit(f"{path} holds bytecode already")
    missing = sorted(set(modules) - set(names))
    if missing:
        raise SystemExit(
            f"{path} has no {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}: the list of modules a cold "
            f"start imports is out of date; rewrite it with python -m bench.first_request --package {path} "
            f"--record infra/{COLD_START_LIST.name}"
        )
    with tempfile.TemporaryDirectory(prefix="keyport-bytecode-") as directory:
        compiled = _compile(path, sorted(modules), Path(directory))
        _rewrite(path, compiled)
    own = sum(1 for name in compiled if top_level(name) in OWN)
    return own, len(compiled) - own


def _compile(path: Path, modules: list[str], directory: Path) -> dict[str, tuple[str, Path]]:
    """Compile ``modules`` of the zip in ``directory``: by source name, the pyc's name in the zip and its file."""
    with zipfile.ZipFile(path) as archive:
        archive.extractall(directory, modules)
    compiled: dict[str, tuple[str, Path]] = {}
    for name in modules:
        source = directory / name
        if top_level(name) in OWN:
            pyc = Path(importlib.util.cache_from_source(str(source)))
        else:
            pyc = source.with_suffix(".pyc")  # sourceless: where the source was
        # The name in code objects (tracebacks, logging): the app's is replaced by the real path on import.
        py_compile.compile(
            str(source),
            cfile=str(pyc),
            dfile=name,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        compiled[name] = (pyc.relative_to(directory).as_posix(), pyc)
    return compiled


def _rewrite(path: Path, compiled: dict[str, tuple[str, Path]]) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, suffix=".zip")
    os.close(fd)
    try:
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(temporary, "w") as out:
            for info in source.infolist():
                sourceless = info.filename in compiled and top_level(info.filename) not in OWN
                if not sourceless:
                    out.writestr(info, source.read(info), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
                if info.filename in compiled:
                    name, pyc = compiled[info.filename]
                    entry = zipfile.ZipInfo(name, date_time=info.date_time)
                    entry.external_attr = info.external_attr
                    out.writestr(entry, pyc.read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zip", type=Path, help="the slimmed deployment.zip")
    parser.add_argument("--modules", type=Path, default=COLD_START_LIST, help="the modules a cold start imports")
    args = parser.parse_args(argv)
    before = args.zip.stat().st_size
    own, sourceless = compile_cold_start(args.zip, cold_start(args.modules))
    print(
        f"deployment.zip: bytecode of {own + sourceless} cold-start modules ({own} of the app beside their sources, "
        f"{sourceless} sourceless), {before / 1e6:.2f} -> {args.zip.stat().st_size / 1e6:.2f} MB zipped",
        file=sys.stderr,
    )
    with zipfile.ZipFile(args.zip) as archive:
        problems = check(archive.namelist())  # a sourceless module still counts as its package
    for problem in problems:
        print(f"infra/package_bytecode.py: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
