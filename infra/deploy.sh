#!/usr/bin/env bash
# Package one stage and deploy it with CloudFormation.
#
#   infra/deploy.sh STAGE BUCKET     (make deploy STAGE=prod BUCKET=my-artifacts)
#
# BUCKET: an existing S3 bucket, in the stack's region, that receives the Lambda zip.
# Needs the aws CLI and credentials for the target account (any way the CLI accepts them), and the
# region in AWS_REGION, AWS_DEFAULT_REGION or the CLI profile.
# No secret goes on a command line: the stack generates the operator key and the hash key in Secrets
# Manager, and the script ends by printing how to read the operator key. To choose the keys instead,
# set SECRETS_FILE to a JSON file {"current": "...", "previous": "", "publishable": ""}: it is
# stored in the operator secret after the deploy (put-secret-value reads the file itself).
# Optional: PUBLIC_URL, CALLBACK_URL, ALARM_EMAIL (parameters: unset keeps the current value on an
# update), STACK_NAME (default keyport-STAGE), BUILD_DIR and SKIP_PACKAGE=1 (deploy what
# `make package` already built in BUILD_DIR, default build/STAGE).
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
OUT="${BUILD_DIR:-build/$STAGE}"

if [[ -n "${SECRETS_FILE:-}" ]]; then
    if ! "${PYTHON:-python}" -c '
import json, sys
keys = json.load(open(sys.argv[1]))
ok = isinstance(keys, dict) and isinstance(keys.get("current"), str) and len(keys["current"]) >= 16
sys.exit(0 if ok and all(isinstance(v, str) for v in keys.values()) else 1)' "$SECRETS_FILE" 2>/dev/null; then
        echo "infra/deploy.sh: SECRETS_FILE must be a JSON object of strings with \"current\" (16 characters" \
            "or more), and optionally \"previous\" and \"publishable\"" >&2
        exit 2
    fi
fi

# The stack's state decides what can be done; a stack that failed to create cannot be updated.
stack_status() {
    local out
    if out="$(aws cloudformation describe-stacks --stack-name "$STACK" --query 'Stacks[0].StackStatus' \
        --output text 2>&1)"; then
        echo "$out"
    elif [[ "$out" == *"does not exist"* ]]; then
        echo NONE
    else
        echo "infra/deploy.sh: cannot read stack $STACK: $out" >&2
        return 1
    fi
}

explain() { # status -> exit 3 with what to do, or return for a state that can be deployed
    case "$1" in
    ROLLBACK_COMPLETE | ROLLBACK_FAILED)
        cat >&2 <<EOF
infra/deploy.sh: stack $STACK failed to create and was rolled back ($1); CloudFormation cannot update it.
  Why it failed:
    aws cloudformation describe-stack-events --stack-name $STACK \\
        --query 'StackEvents[?ends_with(ResourceStatus, \`FAILED\`)].[LogicalResourceId,ResourceStatusReason]' --output text
  Then delete it, and deploy again:
    aws cloudformation delete-stack --stack-name $STACK
    aws cloudformation wait stack-delete-complete --stack-name $STACK
  Nothing that holds data outlives a failed create (RetainExceptOnCreate): the next create starts clean.
EOF
        exit 3
        ;;
    *_IN_PROGRESS)
        echo "infra/deploy.sh: stack $STACK is busy ($1); wait until it settles, then run this again" >&2
        exit 3
        ;;
    UPDATE_ROLLBACK_FAILED)
        echo "infra/deploy.sh: stack $STACK could not roll back an update; fix the cause shown by" \
            "describe-stack-events, then: aws cloudformation continue-update-rollback --stack-name $STACK" >&2
        exit 3
        ;;
    DELETE_FAILED)
        echo "infra/deploy.sh: stack $STACK failed to delete; see describe-stack-events, then delete it again" >&2
        exit 3
        ;;
    esac
}

status="$(stack_status)"
explain "$status"

if [[ "${SKIP_PACKAGE:-}" != 1 ]]; then
    bash infra/package.sh "$STAGE"
fi

aws cloudformation package \
    --template-file "$OUT/sam.json" \
    --s3-bucket "$BUCKET" \
    --s3-prefix "keyport/$STAGE" \
    --use-json \
    --output-template-file "$OUT/packaged.json"
# The CLI writes the template indented by 4 (about 3 times its compact size): compact it, so that it
# stays under CloudFormation's 1 MB limit for a template read from S3.
"${PYTHON:-python}" -c 'import json, sys; t = json.load(open(sys.argv[1])); json.dump(t, open(sys.argv[1], "w"), separators=(",", ":"))' "$OUT/packaged.json"

overrides=()
[[ -n "${PUBLIC_URL:-}" ]] && overrides+=("PublicUrl=$PUBLIC_URL")
[[ -n "${CALLBACK_URL:-}" ]] && overrides+=("CallbackUrl=$CALLBACK_URL")
[[ -n "${ALARM_EMAIL:-}" ]] && overrides+=("AlarmEmail=$ALARM_EMAIL")

# The template is over CloudFormation's 51,200-byte inline limit, so it goes through the bucket too.
# Parameters left out keep their current value on an update (the CLI passes UsePreviousValue).
if ! aws cloudformation deploy \
    --template-file "$OUT/packaged.json" \
    --stack-name "$STACK" \
    --s3-bucket "$BUCKET" \
    --s3-prefix "keyport/$STAGE" \
    --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
    --no-fail-on-empty-changeset \
    --tags "keyport:stage=$STAGE" \
    ${overrides[@]+--parameter-overrides "${overrides[@]}"}; then
    explain "$(stack_status || echo UNKNOWN)"
    echo "infra/deploy.sh: the deploy failed; see: aws cloudformation describe-stack-events --stack-name $STACK" >&2
    exit 1
fi

output() {
    aws cloudformation describe-stacks --stack-name "$STACK" \
        --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
operator_secret="$(output OperatorSecretArn)"
if [[ -n "${SECRETS_FILE:-}" ]]; then
    aws secretsmanager put-secret-value --secret-id "$operator_secret" --secret-string "file://$SECRETS_FILE" \
        --query VersionId --output text >/dev/null
    echo "infra/deploy.sh: stored the keys of $SECRETS_FILE in the operator secret (warm functions take them" \
        "within SECRETS_MAX_AGE_SECONDS, 5 minutes by default)" >&2
fi

aws cloudformation describe-stacks --stack-name "$STACK" --query "Stacks[0].Outputs" --output table
cat >&2 <<EOF
The operator secret key (HTTP Basic user of the operator routes):
  aws secretsmanager get-secret-value --secret-id $operator_secret --query SecretString --output text
Rotating it without downtime: docs/deploy.md, "Rotating secrets".
EOF
