"""One IAM policy per function role: what its code reaches (:mod:`infra.access`), nothing else.

To grant something new, add a statement builder to :data:`STATEMENTS`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from infra.template.keys import KEY_ACTIONS
from infra.template.names import FAILURE_QUEUE, KEY, PUBLISH_BUCKET, SECRETS
from infra.template.stage import Function, Stage, TemplateError
from infra.template.tables import table_properties

TABLE_ACTIONS = [
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:TransactGetItems",
    "dynamodb:TransactWriteItems",
    "dynamodb:UpdateItem",
]


LOG_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]


# IAM counts a policy's characters without whitespace, after CloudFormation resolved it; a role's inline
# policies may take 10,240 together (each role has one here). Managed policies would have 6,144 each.
POLICY_SIZE_LIMIT = 10240
# The longest values the pseudo parameters can take, to size a policy before it is deployed.
_LONGEST = {"AWS::Partition": "aws-us-gov", "AWS::Region": "x" * 16, "AWS::AccountId": "0" * 12}
_ARN_PREFIX = "arn:aws-us-gov:service-name:" + "x" * 16 + ":000000000000:"


# --- one policy per function --------------------------------------------------------------------------


def _log_statements(stage: Stage, function: Function) -> list[dict[str, Any]]:
    if function.log_group:
        resource: Any = {"Fn::GetAtt": [function.log_group, "Arn"]}  # ends with ":*"
        actions = LOG_ACTIONS
    else:
        group = "/aws/lambda/${" + function.logical_id + "}"
        arn = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:" + group + ":*"
        resource, actions = {"Fn::Sub": arn}, ["logs:CreateLogGroup", *LOG_ACTIONS]
    return [{"Sid": "OwnLogGroup", "Effect": "Allow", "Action": actions, "Resource": resource}]


def _table_statements(stage: Stage, function: Function) -> list[dict[str, Any]]:
    tables = stage.models_of(function)
    if not tables:
        return []
    if len(tables) == len(stage.tables):
        # Every table of the stage (the API handler): the stage's prefix says it in two ARNs instead of
        # two per table. load_stage makes sure that no other stage's prefix falls under this one.
        prefix = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/" + stage.table_prefix + "-*"
        resources: list[Any] = [{"Fn::Sub": prefix}, {"Fn::Sub": prefix + "/index/*"}]
    else:
        resources = []
        for table in tables:
            resources.append({"Fn::GetAtt": [table.logical_id, "Arn"]})
            if table_properties(table.model, table.name).keys() & {"GlobalSecondaryIndexes", "LocalSecondaryIndexes"}:
                resources.append({"Fn::Sub": "${" + table.logical_id + ".Arn}/index/*"})
    return [{"Sid": "Tables", "Effect": "Allow", "Action": TABLE_ACTIONS, "Resource": resources}]


def _key_statements(stage: Stage, function: Function) -> list[dict[str, Any]]:
    if function.access.key:
        actions = KEY_ACTIONS
    elif function.access.secrets:
        actions = ["kms:Decrypt"]  # the secrets are encrypted with the stage's key
    else:
        return []
    return [{"Sid": "StageKey", "Effect": "Allow", "Action": actions, "Resource": {"Fn::GetAtt": [KEY, "Arn"]}}]


def _secret_statements(stage: Stage, function: Function) -> list[dict[str, Any]]:
    secrets = [{"Ref": SECRETS[kind][0]} for kind in sorted(function.access.secrets)]
    if not secrets:
        return []
    return [{"Sid": "Secrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": secrets}]


def _invoke_statements(stage: Stage, function: Function) -> list[dict[str, Any]]:
    targets = [f for f in stage.functions if f.invoked_by_app and f.name in function.access.workers]
    if not targets:
        return []
    resources = [{"Fn::GetAtt": [f.logical_id, "Arn"]} for f in targets]
    return [{"Sid": "InvokeWorkers", "Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": resources}]


def _websocket_statements(stage: Stage, function: Function) -> list[dict[str, Any]]:
    if stage.websocket_stage is None or not function.access.websocket:
        return []
    connections = "${WebsocketAPI}/" + stage.websocket_stage + "/*/@connections/*"
    arn = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:" + connections
    return [
        {
            "Sid": "OwnWebsocketConnections",
            "Effect": "Allow",
            "Action": ["execute-api:ManageConnections"],
            "Resource": {"Fn::Sub": arn},
        }
    ]


def _bucket_statements(stage: Stage, function: Function) -> list[dict[str, Any]]:
    if not function.access.bucket:
        return []
    bucket = {"Fn::GetAtt": [PUBLISH_BUCKET, "Arn"]}
    objects = {"Fn::Sub": "${" + PUBLISH_BUCKET + ".Arn}/*"}
    return [
        {"Sid": "PublishBucketList", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": bucket},
        {
            "Sid": "PublishBucketObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": objects,
        },
    ]


def _failure_queue_statements(stage: Stage, function: Function) -> list[dict[str, Any]]:
    # Lambda sends a failed asynchronous event to the on-failure destination with the function's role.
    if not function.invoked_by_app:
        return []
    queue = {"Fn::GetAtt": [FAILURE_QUEUE, "Arn"]}
    return [{"Sid": "FailureQueue", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": queue}]


# Each builder returns the IAM statements one function needs; add one per new kind of resource.
# They may name functions and the key: the policies are resources of their own, not part of the roles.
STATEMENTS: list[Callable[[Stage, Function], list[dict[str, Any]]]] = [
    _log_statements,
    _table_statements,
    _key_statements,
    _secret_statements,
    _invoke_statements,
    _websocket_statements,
    _bucket_statements,
    _failure_queue_statements,
]


def function_policy(stage: Stage, function: Function) -> dict[str, Any]:
    """The policy of one function's role: what its code reaches, nothing else."""
    statements = [s for build in STATEMENTS for s in build(stage, function)]
    document = {"Version": "2012-10-17", "Statement": statements}
    size = policy_size(stage, document)
    if size > POLICY_SIZE_LIMIT:
        raise TemplateError(
            f"The policy of {function.logical_id} would take about {size} characters once deployed, over IAM's "
            f"{POLICY_SIZE_LIMIT} for a role's inline policies: scope resources by prefix or split the function."
        )
    return {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "keyport-access",
            "Roles": [{"Ref": function.role}],
            "PolicyDocument": document,
        },
    }


def access_resources(stage: Stage) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for function in stage.functions:
        if function.role is None:
            continue
        resources[function.role + "Policy"] = function_policy(stage, function)
        # Replaces the deny-all placeholder of .chalice/policy-lambda.json (lists are replaced on merge).
        resources[function.role] = {"Properties": {"Policies": []}}
    return resources


def policy_size(stage: Stage, document: Any) -> int:
    """The length of ``document`` once deployed, with every reference at its longest (an upper bound)."""
    arns: dict[str, str] = {KEY: _ARN_PREFIX + "key/" + "0" * 36, "WebsocketAPI": "0" * 10}
    for table in stage.tables:
        arns[table.logical_id] = _ARN_PREFIX + "table/" + table.name
    for function in stage.functions:
        arns[function.logical_id] = _ARN_PREFIX + "function:" + function.function_name
        if function.log_group:
            arns[function.log_group] = _ARN_PREFIX + "log-group:/aws/lambda/" + function.function_name + ":*"
    return len(json.dumps(_resolve(document, arns), separators=(",", ":")))


def _resolve(value: Any, arns: dict[str, str]) -> Any:

    unknown = _ARN_PREFIX + "x" * 64
    if isinstance(value, list):
        return [_resolve(v, arns) for v in value]
    if not isinstance(value, dict):
        return value
    if "Fn::GetAtt" in value:
        return arns.get(value["Fn::GetAtt"][0], unknown)
    if "Ref" in value:
        return _LONGEST.get(value["Ref"]) or arns.get(value["Ref"], unknown)
    if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        name = re.compile(r"\$\{([A-Za-z0-9:]+)(?:\.[A-Za-z]+)?\}")
        return name.sub(lambda m: _LONGEST.get(m.group(1)) or arns.get(m.group(1), unknown), value["Fn::Sub"])
    return {k: _resolve(v, arns) for k, v in value.items()}
