#!/usr/bin/env bash
# Build the deployable template and Lambda zip of one stage, then lint them.
#
#   infra/package.sh STAGE        (make package STAGE=dev)
#
# Output: build/STAGE/sam.json and build/STAGE/deployment.zip, from build/resources-STAGE.json merged
# into `chalice package`, the zip slimmed by infra/package_zip.py. Chalice takes the Lambda runtime, and the
# wheels it bundles, from the Python that runs it; Keyport runs on python3.13 (infra/template/names.py
# RUNTIME), so `chalice package` runs in build/.venv-python3.13 (made here, with the chalice pin of requirements-dev.txt), from the first
# python3.13 found: $RUNTIME_PYTHON, python3.13 on PATH, or pyenv's. The template itself is generated
# by the project's Python (python, chalice and cfn-lint on PATH: the Makefile puts .venv/bin first).
# Needs PyPI for the Linux wheels. No AWS credentials.
# Idempotent: build/STAGE is rebuilt every time; Chalice reuses .chalice/deployments/ when the
# requirements, app.py, chalicelib/ and vendor/ are unchanged.
set -euo pipefail

STAGE="${1:?usage: infra/package.sh STAGE}"
cd "$(dirname "$0")/.."

export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export PYTHONDONTWRITEBYTECODE=1 # keep chalicelib/ free of new __pycache__ (they would be zipped)
PYTHON="${PYTHON:-python}"
OUT="build/$STAGE"
FRAGMENT="build/resources-$STAGE.json"
started=$(date +%s)

RUNTIME_VERSION=3.13
PACKAGER="build/.venv-python$RUNTIME_VERSION"

runtime_python() {
    local candidate
    for candidate in "${RUNTIME_PYTHON:-}" "python$RUNTIME_VERSION" \
        "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/"$RUNTIME_VERSION"*/bin/python"$RUNTIME_VERSION"; do
        [[ -n "$candidate" ]] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] != '$RUNTIME_VERSION')" 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

chalice_pin="$(grep -E '^chalice==' requirements-dev.txt | cut -d' ' -f1)"
if [[ ! -x "$PACKAGER/bin/chalice" ]] || [[ "$("$PACKAGER/bin/chalice" --version | cut -d, -f1)" != "${chalice_pin/==/ }" ]]; then
    if ! interpreter="$(runtime_python)"; then
        echo "infra/package.sh: no Python $RUNTIME_VERSION found (set RUNTIME_PYTHON, or install one: apt-get" \
            "install python$RUNTIME_VERSION-venv, pyenv install $RUNTIME_VERSION, uv python install $RUNTIME_VERSION):" \
            "Chalice bundles the wheels of the Python that packages, and Keyport runs on python$RUNTIME_VERSION" >&2
        exit 2
    fi
    rm -rf "$PACKAGER"
    "$interpreter" -m venv "$PACKAGER"
    "$PACKAGER/bin/python" -m pip install --quiet --disable-pip-version-check "$chalice_pin"
fi

mkdir -p build
"$PYTHON" -m infra.template --stage "$STAGE" >"$FRAGMENT.tmp"
mv "$FRAGMENT.tmp" "$FRAGMENT"

rm -rf "$OUT"
"$PACKAGER/bin/chalice" package --stage "$STAGE" --merge-template "$FRAGMENT" "$OUT"
# Only what the runtime imports or reads: the botocore models of aws.SERVICES, no tests, CLIs or wheel RECORDs,
# extensions without their symbol tables (strip: binutils, or $STRIP).
# Fails when the zip's top-level packages are not exactly infra/package_zip.py SHIPPED.
"$PYTHON" -m infra.package_zip "$OUT/deployment.zip"
"$PYTHON" -m infra.template --stage "$STAGE" --finish "$OUT"
# The bytecode of the modules a cold start imports (infra/package_cold_start.txt), compiled by the runtime's
# Python, which infra/package_bytecode.py checks (version and magic number); third-party modules ship it
# instead of their sources. BYTECODE=0 leaves it out (a zip of sources only, every cold start compiles them).
if [[ "${BYTECODE:-1}" != 0 ]]; then
    "$PACKAGER/bin/python" -m infra.package_bytecode "$OUT/deployment.zip"
fi

# Chalice caches one ~23 MB zip per state of the code in .chalice/deployments/: keep the newest three.
find .chalice/deployments -maxdepth 1 -name '*.zip' -printf '%T@ %p\n' 2>/dev/null |
    sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -f --

# cfn-lint exits with 2 for errors and 4 for warnings (bits); both fail the build.
echo "cfn-lint $OUT/sam.json" >&2
cfn-lint --regions "$AWS_DEFAULT_REGION" -- "$OUT/sam.json"

# checkov: policy checks beyond cfn-lint. Every check either passes or is skipped in the template with its
# reason (infra/template/checkov.py CHECKOV_SKIPS). It pins dependencies that clash with the runtime's (botocore),
# so it lives in its own venv, pinned by infra/requirements-checkov.txt. CHECKOV=0 skips it (a quick loop).
if [[ "${CHECKOV:-1}" != 0 ]]; then
    CHECKER=build/.venv-checkov
    if [[ ! -x "$CHECKER/bin/checkov" ]] || [[ infra/requirements-checkov.txt -nt "$CHECKER/bin/checkov" ]]; then
        rm -rf "$CHECKER"
        "$PYTHON" -m venv "$CHECKER"
        "$CHECKER/bin/python" -m pip install --quiet --disable-pip-version-check -r infra/requirements-checkov.txt
        touch "$CHECKER/bin/checkov"
    fi
    echo "checkov $OUT/sam.json" >&2
    "$CHECKER/bin/checkov" --file "$OUT/sam.json" --framework cloudformation --compact --quiet --skip-download
fi

echo "packaged $STAGE in $(($(date +%s) - started)) s: $OUT/sam.json, $OUT/deployment.zip" \
    "($(wc -c <"$OUT/deployment.zip" | awk '{ printf "%.1f MB", $1 / 1e6 }'))" >&2
