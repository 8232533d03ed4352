#!/usr/bin/env bash
# Build the deployable template and Lambda zip of one stage, then lint them.
#
#   infra/package.sh STAGE        (make package STAGE=dev)
#
# Output: build/STAGE/sam.json and build/STAGE/deployment.zip, from build/resources-STAGE.json merged
# into `chalice package`. Needs python (3.11: it decides the Lambda runtime), chalice and cfn-lint on
# PATH (the Makefile puts .venv/bin first), and PyPI for the Linux wheels. No AWS credentials.
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

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "infra/package.sh: $("$PYTHON" --version 2>&1) found; Chalice takes the Lambda runtime from the" \
        "packaging Python, and Keyport runs on python3.11" >&2
    exit 2
fi

mkdir -p build
"$PYTHON" -m infra.template --stage "$STAGE" >"$FRAGMENT.tmp"
mv "$FRAGMENT.tmp" "$FRAGMENT"

rm -rf "$OUT"
chalice package --stage "$STAGE" --merge-template "$FRAGMENT" "$OUT"
"$PYTHON" -m infra.template --stage "$STAGE" --finish "$OUT"

# Chalice caches one ~23 MB zip per state of the code in .chalice/deployments/: keep the newest three.
find .chalice/deployments -maxdepth 1 -name '*.zip' -printf '%T@ %p\n' 2>/dev/null |
    sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -f --

# cfn-lint exits with 2 for errors and 4 for warnings (bits); both fail the build.
echo "cfn-lint $OUT/sam.json" >&2
cfn-lint --regions "$AWS_DEFAULT_REGION" -- "$OUT/sam.json"

echo "packaged $STAGE in $(($(date +%s) - started)) s: $OUT/sam.json, $OUT/deployment.zip" \
    "($(du -h "$OUT/deployment.zip" | cut -f1))" >&2
