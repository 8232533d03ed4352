#!/usr/bin/env bash
# Package one stage and deploy it with CloudFormation.
#
#   SECRET_KEY=... infra/deploy.sh STAGE BUCKET     (make deploy STAGE=prod BUCKET=my-artifacts SECRET_KEY=...)
#
# BUCKET: an existing S3 bucket, in the stack's region, that receives the Lambda zip.
# Needs the aws CLI and credentials for the target account (any way the CLI accepts them), and the
# region in AWS_REGION, AWS_DEFAULT_REGION or the CLI profile.
# SECRET_KEY is required to create the stack; on an update, leaving it unset keeps the current value,
# and setting it rotates it. Optional: PUBLISHABLE_KEY, PUBLIC_URL, CALLBACK_URL (same rule), and
# STACK_NAME (default keyport-STAGE).
set -euo pipefail

STAGE="${1:?usage: infra/deploy.sh STAGE BUCKET}"
BUCKET="${2:?usage: infra/deploy.sh STAGE BUCKET (an S3 bucket for the Lambda zip)}"
cd "$(dirname "$0")/.."

command -v aws >/dev/null || {
    echo "infra/deploy.sh: the AWS CLI (aws) is required" >&2
    exit 2
}
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region 2>/dev/null || true)}}"
if [[ -z "$REGION" ]]; then
    echo "infra/deploy.sh: no region: set AWS_REGION or AWS_DEFAULT_REGION" >&2
    exit 2
fi
export AWS_DEFAULT_REGION="$REGION"
STACK="${STACK_NAME:-keyport-$STAGE}"
OUT="build/$STAGE"

overrides=()
[[ -n "${SECRET_KEY:-}" ]] && overrides+=("SecretKey=$SECRET_KEY")
[[ -n "${PUBLISHABLE_KEY:-}" ]] && overrides+=("PublishableKey=$PUBLISHABLE_KEY")
[[ -n "${PUBLIC_URL:-}" ]] && overrides+=("PublicUrl=$PUBLIC_URL")
[[ -n "${CALLBACK_URL:-}" ]] && overrides+=("CallbackUrl=$CALLBACK_URL")
if [[ -z "${SECRET_KEY:-}" ]] && ! aws cloudformation describe-stacks --stack-name "$STACK" >/dev/null 2>&1; then
    echo "infra/deploy.sh: stack $STACK does not exist yet: set SECRET_KEY (at least 16 characters)" >&2
    exit 2
fi

bash infra/package.sh "$STAGE"

aws cloudformation package \
    --template-file "$OUT/sam.json" \
    --s3-bucket "$BUCKET" \
    --s3-prefix "keyport/$STAGE" \
    --use-json \
    --output-template-file "$OUT/packaged.json"
# The CLI writes the template indented by 4 (about 3 times its compact size): compact it, so that it
# stays under CloudFormation's 1 MB limit for a template read from S3.
"${PYTHON:-python}" -c 'import json, sys; t = json.load(open(sys.argv[1])); json.dump(t, open(sys.argv[1], "w"), separators=(",", ":"))' "$OUT/packaged.json"

# The template is over CloudFormation's 51,200-byte inline limit, so it goes through the bucket too.
# Parameters left out keep their current value on an update (the CLI passes UsePreviousValue).
aws cloudformation deploy \
    --template-file "$OUT/packaged.json" \
    --stack-name "$STACK" \
    --s3-bucket "$BUCKET" \
    --s3-prefix "keyport/$STAGE" \
    --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
    --no-fail-on-empty-changeset \
    --tags "keyport:stage=$STAGE" \
    ${overrides[@]+--parameter-overrides "${overrides[@]}"}

aws cloudformation describe-stacks --stack-name "$STACK" --query "Stacks[0].Outputs" --output table
