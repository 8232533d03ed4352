"""Policy checks (checkov, run by infra/package.sh) that this stack fails on purpose, with the reasons."""

from __future__ import annotations

from infra.template.names import DISTRIBUTION, FAILURE_QUEUE, PUBLISH_BUCKET
from infra.template.stage import Stage

# Checks that this stack fails on purpose, each with the reason, by resource type; Metadata carries them
# into the template, where checkov reads them. Anything else checkov finds fails the build.
CHECKOV_SKIPS: dict[str, list[tuple[str, str]]] = {
    "function": [
        (
            "CKV_AWS_117",
            "No VPC: the functions call public OAuth providers and GitHub; a VPC would need a NAT "
            "gateway (about 32 USD a month per zone) for no isolation gain, as DynamoDB, KMS and S3 are IAM-guarded",
        ),
        (
            "CKV_AWS_116",
            "Asynchronous workers have an on-failure destination (EventInvokeConfig, an alarmed SQS "
            "queue), which checkov does not read; API and websocket handlers are invoked synchronously; the "
            "scheduled sweeps redo their work on the next run",
        ),
        (
            "CKV_AWS_115",
            "No reserved concurrency: a cap would throttle legitimate traffic; the account's "
            "concurrency limit applies, and an operator can reserve per function when sharing an account",
        ),
        (
            "CKV_AWS_173",
            "The environment holds no secret (the keys are in Secrets Manager, the functions get "
            "their ARNs); Lambda encrypts it at rest with an AWS key",
        ),
    ],
    "log_group": [
        (
            "CKV_AWS_158",
            "No secret is ever logged (tests check it); CloudWatch Logs encrypts at rest, and a "
            "customer key would need the logs service in the key policy of the key that guards the data",
        ),
    ],
    "rest_api": [
        (
            "CKV_AWS_76",
            "API Gateway access logs need the account-wide CloudWatch role (AWS::ApiGateway::Account), "
            "which one stack must not take over; the functions log every request",
        ),
        ("CKV_AWS_73", "X-Ray tracing is opt-in (a cost per trace); enable it per stage when needed"),
        ("CKV_AWS_120", "Responses are per caller and authenticated: caching them at the edge would be wrong"),
    ],
    "websocket_stage": [
        ("CKV_AWS_95", "As for the REST API: access logs need the account-wide role; the handlers log"),
    ],
    PUBLISH_BUCKET: [
        ("CKV_AWS_21", "Builds are regenerated from stored data; versions would keep every stale upload"),
        (
            "CKV_AWS_18",
            "Server access logs need a second bucket; CloudFront serves every read, and CloudTrail "
            "data events can be enabled per account",
        ),
    ],
    DISTRIBUTION: [
        ("CKV_AWS_86", "Standard logs need a log bucket with ACLs; enable them per deployment when needed"),
        ("CKV_AWS_68", "A web ACL costs at least 5 USD a month and is a per-deployment choice; the sites are static"),
        (
            "CKV_AWS_174",
            "The default *.cloudfront.net certificate cannot set a minimum TLS version; a custom "
            "domain's certificate should (TLSv1.2_2021)",
        ),
    ],
    FAILURE_QUEUE: [
        (
            "CKV_AWS_27",
            "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled); a customer key would "
            "have to be granted to every function that Lambda sends failures for",
        ),
    ],
}


def checkov_skips(stage: Stage) -> dict[str, list[dict[str, str]]]:
    """The checkov suppressions of each resource, by logical id."""

    def skips(kind: str) -> list[dict[str, str]]:
        return [{"id": check, "comment": comment} for check, comment in CHECKOV_SKIPS[kind]]

    found: dict[str, list[dict[str, str]]] = {}
    for function in stage.functions:
        found[function.logical_id] = skips("function")
        if function.log_group:
            found[function.log_group] = skips("log_group")
    found["RestAPI"] = skips("rest_api")
    if stage.websocket_stage is not None:
        found["WebsocketAPIStage"] = skips("websocket_stage")
    for logical_id in (PUBLISH_BUCKET, DISTRIBUTION):
        found[logical_id] = skips(logical_id)
    if any(f.invoked_by_app for f in stage.functions):
        found[FAILURE_QUEUE] = skips(FAILURE_QUEUE)
    return found
