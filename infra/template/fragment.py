"""The fragment for ``chalice package --merge-template``: every resource builder, parameters and outputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.template.alarms import ALARM_PARAMETERS, alarm_resources, async_resources
from infra.template.cdn import bucket_resources
from infra.template.checkov import checkov_skips
from infra.template.functions import (
    PARAMETERS,
    PUBLIC_URL_FUNCTIONS,
    api_overrides,
    function_overrides,
    log_group_overrides,
)
from infra.template.keys import key_resources, secret_resources
from infra.template.names import (
    ALARM_TOPIC,
    DISTRIBUTION,
    FAILURE_QUEUE,
    KEY,
    KEY_ALIAS,
    PROJECT_DIR,
    PUBLISH_BUCKET,
    SECRETS,
)
from infra.template.policies import access_resources
from infra.template.stage import Stage, TemplateError, load_stage
from infra.template.tables import table_resources

# Each builder returns resources (or deep-merged overrides of Chalice's resources) by logical id.
RESOURCES: list[Callable[[Stage], dict[str, Any]]] = [
    key_resources,
    bucket_resources,
    table_resources,
    secret_resources,
    access_resources,
    function_overrides,
    log_group_overrides,
    async_resources,
    alarm_resources,
    api_overrides,
]


def build(stage: Stage) -> dict[str, Any]:
    """The fragment for ``chalice package --merge-template``."""
    resources: dict[str, Any] = {}
    for builder in RESOURCES:
        for logical_id, resource in builder(stage).items():
            if logical_id in resources:
                raise TemplateError(f"Two resource builders define {logical_id}.")
            resources[logical_id] = resource
    outputs: dict[str, Any] = {
        "KeyArn": {"Description": "The stage's KMS key", "Value": {"Fn::GetAtt": [KEY, "Arn"]}},
        "KeyAlias": {"Description": "Alias the functions use (KMS_KEY_ID)", "Value": {"Ref": KEY_ALIAS}},
        "PublishBucketName": {"Description": "Where publishing builds go", "Value": {"Ref": PUBLISH_BUCKET}},
        "PublishDomainName": {
            "Description": "The CloudFront domain serving previews (/preview) and published sites (/publish)",
            "Value": {"Fn::GetAtt": [DISTRIBUTION, "DomainName"]},
        },
        "AlarmTopicArn": {"Description": "Subscribe to receive the stack's alarms", "Value": {"Ref": ALARM_TOPIC}},
        # Chalice's RestAPI, merged in by `chalice package`; its EndpointURL ends in the stage's /api/.
        "DashboardURL": {
            "Description": "The operator dashboard: sign in with the operator secret key",
            "Value": {"Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api/dashboard"},
        },
    }
    for kind, (logical_id, _variable) in SECRETS.items():
        if logical_id in resources:
            outputs[logical_id + "Arn"] = {
                "Description": f"Secrets Manager secret of the {kind} key (read it with get-secret-value)",
                "Value": {"Ref": logical_id},
            }
    if FAILURE_QUEUE in resources:
        outputs["AsyncFailureQueueUrl"] = {
            "Description": "Asynchronous invocations that failed after their retries",
            "Value": {"Ref": FAILURE_QUEUE},
        }
    for table in stage.tables:
        outputs[f"{table.logical_id}Name"] = {
            "Description": f"DynamoDB table of {table.model.__name__}",
            "Value": {"Ref": table.logical_id},
        }
    for logical_id, skips in checkov_skips(stage).items():
        resources.setdefault(logical_id, {})["Metadata"] = {"checkov": {"skip": skips}}
    parameters = dict(ALARM_PARAMETERS)
    if any(f.logical_id in PUBLIC_URL_FUNCTIONS for f in stage.functions):
        parameters.update(PARAMETERS)
    conditions = {"HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}}
    return {"Parameters": parameters, "Conditions": conditions, "Resources": resources, "Outputs": outputs}


def generate(stage: str, *, project_dir: Path = PROJECT_DIR, require_defined: bool = True) -> dict[str, Any]:
    """The fragment of one stage (``require_defined=False`` allows a stage absent from config.json)."""
    return build(load_stage(stage, project_dir=project_dir, require_defined=require_defined))
