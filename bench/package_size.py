"""Size of the Lambda package that ``make package`` built (build/STAGE/deployment.zip), by top-level entry."""

from __future__ import annotations

import sys
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LARGEST = 8


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    packages = [Path(a) for a in args] or sorted(ROOT.glob("build/*/deployment.zip"))
    if not packages:
        print("Lambda package: none built (make package STAGE=dev builds build/dev/deployment.zip)")
        return
    for package in packages:
        with zipfile.ZipFile(package) as archive:
            members = archive.infolist()
        zipped: Counter[str] = Counter()
        for info in members:
            zipped[info.filename.split("/", 1)[0]] += info.compress_size
        unzipped = sum(info.file_size for info in members)
        pycs = [info.filename for info in members if info.filename.endswith(".pyc")]
        sourceless = sum(1 for name in pycs if "__pycache__/" not in name)
        print(
            f"Lambda package {package.relative_to(ROOT) if package.is_relative_to(ROOT) else package}: "
            f"{package.stat().st_size / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB unzipped, {len(members)} files "
            "(goal <= 12 MB zipped)"
        )
        print(f"  bytecode of {len(pycs)} modules, {sourceless} of them sourceless (infra/package_bytecode.py)")
        largest = ", ".join(f"{name} {size / 1e6:.1f}" for name, size in zipped.most_common(LARGEST))
        print(f"  largest entries, MB zipped: {largest}")


if __name__ == "__main__":
    main()
