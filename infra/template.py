"""The CloudFormation resources merged into ``chalice package``: tables, KMS key, access policy, parameters.

    python -m infra.template --stage dev > build/resources-dev.json    # the fragment to merge
    python -m infra.template --stage dev --finish build/dev            # after chalice package: check it

Nothing here is listed by hand. The tables come from the PynamoDB models (``aws.all_models()``), their
names from the settings that the stage's Lambda environment (``.chalice/config.json``) produces, and the
functions, roles and log groups from Chalice's own application graph, named as Chalice names them in
``sam.json``. ``chalice package --merge-template`` merges dicts deeply and replaces everything else
(lists included), which is what the overrides below rely on.

IAM: every Chalice role's inline policy (``.chalice/policy-lambda.json``, a deny-all placeholder that
Chalice requires) is replaced by nothing, and one managed policy, :data:`ACCESS_POLICY`, is attached to
every role through its ``Roles`` property. It names the real resources (``Fn::GetAtt``/``Ref``), except the
tables, granted by the stage's table prefix to stay under IAM's policy size limit (see _table_statements).
Being a separate resource, it may also name the functions themselves (``lambda:InvokeFunction``) without a
dependency cycle. To grant something new, add a statement builder to :data:`STATEMENTS` and, if it creates
resources, a resource builder to :data:`RESOURCES`.

Functions keep Chalice's names (keyport-STAGE[-name]) because the app invokes its workers by name.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent

KEY = "KeyportKey"
KEY_ALIAS = "KeyportKeyAlias"
ACCESS_POLICY = "KeyportAccessPolicy"
PUBLISH_BUCKET = "PublishBucket"

# Functions whose environment gets the operator secrets and the public URLs (parameters below).
SECRET_FUNCTIONS = ("APIHandler",)

PARAMETERS: dict[str, dict[str, Any]] = {
    "SecretKey": {
        "Type": "String",
        "NoEcho": True,
        "MinLength": 16,
        "Description": "Operator secret key: HTTP Basic user of the protected routes. Rotate by redeploying.",
    },
    "PublishableKey": {
        "Type": "String",
        "NoEcho": True,
        "Default": "",
        "Description": "Publishable key that connect flows must present (pizzly_pkey); empty to not require one.",
    },
    "PublicUrl": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": "^(https://\\S+)?$",
        "Description": "Public base URL (a custom domain); empty to derive URLs from each request.",
    },
    "CallbackUrl": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": "^(https://\\S+)?$",
        "Description": "OAuth callback URL registered with providers; empty for PublicUrl + /auth/callback.",
    },
}
# Parameter -> environment variable of SECRET_FUNCTIONS (read by chalicelib/settings.py).
PARAMETER_ENVIRONMENT = {
    "SecretKey": "SECRET_KEY",
    "PublishableKey": "PUBLISHABLE_KEY",
    "PublicUrl": "PUBLIC_URL",
    "CallbackUrl": "CALLBACK_URL",
}

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
KEY_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
LOG_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]
ATTRIBUTE_TYPES = {"S", "N", "B"}

# Environment variables that decide resource names; the stage's Lambda environment alone sets them.
_NAMING_VARIABLES = ("STAGE", "TABLE_PREFIX", "KMS_KEY_ID", "FUNCTION_PREFIX")


class TemplateError(Exception):
    """The models or the Chalice configuration cannot be turned into a valid template."""


@dataclass(frozen=True)
class Function:
    """One Lambda function of the Chalice app, by its logical ids in ``sam.json``."""

    logical_id: str
    name: str  # Chalice's: api_handler, or the name given to @app.lambda_function, @app.schedule, ...
    function_name: str  # Chalice's name for it, keyport-STAGE[-name]: FUNCTION_PREFIX + name in the app
    role: str | None  # None when the role is not managed by Chalice (iam_role_arn)
    log_group: str | None  # None without log_retention_in_days
    invoked_by_app: bool  # an @app.lambda_function, which the app invokes itself (chalicelib/jobs/invoke.py)


@dataclass(frozen=True)
class Table:
    """One DynamoDB table: its model, logical id and stage-specific name."""

    logical_id: str
    name: str
    model: Any


@dataclass(frozen=True)
class Stage:
    """Everything the template of one stage is derived from."""

    name: str
    environment: dict[str, str]
    table_prefix: str
    key_alias: str
    tables: tuple[Table, ...]
    functions: tuple[Function, ...]
    websocket_stage: str | None  # the WebsocketAPI's stage, when the app has websocket handlers

    @property
    def roles(self) -> list[str]:
        return sorted({f.role for f in self.functions if f.role})


# --- what the template is derived from ---------------------------------------------------------------


def load_stage(name: str, *, project_dir: Path = PROJECT_DIR, require_defined: bool = True) -> Stage:
    """Read the stage's Chalice configuration, app graph and models."""
    from chalice.cli.factory import CLIFactory

    factory = CLIFactory(str(project_dir), environ=dict(os.environ))
    stages = factory.load_project_config().get("stages", {})
    if require_defined and name not in stages:
        raise TemplateError(f"Stage '{name}' is not defined in .chalice/config.json (stages: {', '.join(stages)}).")
    config = factory.create_config_obj(chalice_stage_name=name)
    environment = {"STAGE": name, **{k: str(v) for k, v in config.environment_variables.items()}}
    if environment["STAGE"] != name:
        raise TemplateError(f"Stage '{name}' sets STAGE={environment['STAGE']} in .chalice/config.json.")
    with _settings_for(environment) as settings:
        table_prefix = settings.table_prefix
        key_alias = settings.kms_key_id
        function_prefix = getattr(settings, "function_prefix", None)
        tables = _tables(settings.table_name)
    if not key_alias.startswith("alias/"):
        raise TemplateError(f"KMS_KEY_ID must name the stage's key by alias (alias/...), not '{key_alias}'.")
    for other, prefix in _other_table_prefixes(factory, stages, name).items():
        if prefix.startswith(table_prefix + "-"):
            raise TemplateError(
                f"Stage '{other}' names its tables {prefix}-*, inside '{name}''s {table_prefix}-*: "
                "the stages would share table permissions. Choose prefixes that do not nest."
            )
    functions, websocket_stage = _functions(config, name)
    for function in functions:
        if function.invoked_by_app and function_prefix and function_prefix + function.name != function.function_name:
            raise TemplateError(
                f"The app would invoke {function_prefix + function.name}, but the function is "
                f"{function.function_name}: FUNCTION_PREFIX and the Chalice app name disagree."
            )
    return Stage(name, environment, table_prefix, key_alias, tables, functions, websocket_stage)


def _other_table_prefixes(factory: Any, stages: dict[str, Any], name: str) -> dict[str, str]:
    prefixes = {}
    for other in stages:
        if other != name:
            config = factory.create_config_obj(chalice_stage_name=other)
            environment = {"STAGE": other, **{k: str(v) for k, v in config.environment_variables.items()}}
            with _settings_for(environment) as settings:
                prefixes[other] = settings.table_prefix
    return prefixes


@contextmanager
def _settings_for(environment: dict[str, str]) -> Iterator[Any]:
    """The settings a Lambda function with exactly this environment computes (process env restored after)."""
    from chalicelib.settings import clear_settings, get_settings

    saved = {k: os.environ.get(k) for k in _NAMING_VARIABLES}
    try:
        for key in _NAMING_VARIABLES:
            os.environ.pop(key, None)
            if key in environment:
                os.environ[key] = environment[key]
        clear_settings()
        yield get_settings()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        clear_settings()


def _tables(table_name: Callable[[str], str]) -> tuple[Table, ...]:
    from chalice.utils import to_cfn_resource_name

    from chalicelib import aws

    tables: dict[str, Table] = {}
    for model in aws.all_models():
        aggregate = model.Meta.aggregate
        logical_id = to_cfn_resource_name(aggregate) + "Table"
        if logical_id in tables:
            other = tables[logical_id].model.__name__
            raise TemplateError(f"Models {other} and {model.__name__} both map to the table {logical_id}.")
        tables[logical_id] = Table(logical_id, table_name(aggregate), model)
    return tuple(sorted(tables.values(), key=lambda t: t.logical_id))


def _functions(config: Any, stage: str) -> tuple[tuple[Function, ...], str | None]:
    """Chalice's functions with the logical ids its SAM generator gives them (see chalice/package.py)."""
    from chalice.deploy import models
    from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder
    from chalice.utils import to_cfn_resource_name

    application = ApplicationGraphBuilder().build(config, stage)
    resources = DependencyBuilder().build_dependencies(application)
    api_handlers = {r.lambda_function.resource_name for r in resources if isinstance(r, models.RestAPI)}
    invoked = {f.name for f in config.chalice_app.pure_lambda_functions}
    websocket_stage = next((r.api_gateway_stage for r in resources if isinstance(r, models.WebsocketAPI)), None)
    functions = []
    for resource in resources:
        if not isinstance(resource, models.LambdaFunction):
            continue
        if resource.resource_name in api_handlers:
            logical_id = "APIHandler"
        else:
            logical_id = to_cfn_resource_name(resource.resource_name)
        role = None
        if isinstance(resource.role, models.ManagedIAMRole):
            role = to_cfn_resource_name(resource.role.resource_name)
        log_group = to_cfn_resource_name(resource.log_group.resource_name) if resource.log_group else None
        invoked_by_app = resource.resource_name in invoked
        functions.append(
            Function(logical_id, resource.resource_name, resource.function_name, role, log_group, invoked_by_app)
        )
    return tuple(sorted(functions, key=lambda f: f.logical_id)), websocket_stage


# --- tables ------------------------------------------------------------------------------------------


def ttl_attribute(model: Any) -> str | None:
    """The DynamoDB name of the model's TTL attribute (``Meta.ttl_attribute``), or None."""
    from pynamodb.attributes import TTLAttribute

    attributes = model.get_attributes()
    declared = getattr(model.Meta, "ttl_attribute", None)
    typed = [a.attr_name for a in attributes.values() if isinstance(a, TTLAttribute)]
    if declared is None:
        if typed:
            raise TemplateError(
                f"{model.__name__} has a TTLAttribute '{typed[0]}' but no Meta.ttl_attribute: "
                "declare it with table_meta(..., ttl_attribute=...) so every stack enables it."
            )
        return None
    name = attributes[declared].attr_name if declared in attributes else declared
    if typed and name not in typed:
        raise TemplateError(f"{model.__name__}: Meta.ttl_attribute '{declared}' is not its TTLAttribute '{typed[0]}'.")
    return str(name)


def _key_schema(entries: list[dict[str, str]]) -> list[dict[str, str]]:
    order = {"HASH": 0, "RANGE": 1}
    return [
        {"AttributeName": e["AttributeName"], "KeyType": e["KeyType"]}
        for e in sorted(entries, key=lambda e: order[e["KeyType"]])
    ]


def _indexes(schema_indexes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    indexes = []
    for index in sorted(schema_indexes, key=lambda i: i["index_name"]):
        projection = {"ProjectionType": index["projection"]["ProjectionType"]}
        if index["projection"].get("NonKeyAttributes"):
            projection["NonKeyAttributes"] = sorted(index["projection"]["NonKeyAttributes"])
        indexes.append(
            {"IndexName": index["index_name"], "KeySchema": _key_schema(index["key_schema"]), "Projection": projection}
        )
    return indexes


def table_properties(model: Any, name: str) -> dict[str, Any]:
    """The ``AWS::DynamoDB::Table`` properties of one model (the schema PynamoDB itself would create)."""
    schema = model._get_schema()
    definitions: dict[str, str] = {}
    indexes = schema["global_secondary_indexes"] + schema["local_secondary_indexes"]
    for definition in schema["attribute_definitions"] + [d for i in indexes for d in i["attribute_definitions"]]:
        attr, kind = definition["AttributeName"], definition["AttributeType"]
        if kind not in ATTRIBUTE_TYPES:
            raise TemplateError(f"{model.__name__}.{attr}: a key attribute must be S, N or B, not {kind}.")
        if definitions.setdefault(attr, kind) != kind:
            raise TemplateError(f"{model.__name__}.{attr} is a key of type {definitions[attr]} and {kind}.")
    properties: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": t} for a, t in sorted(definitions.items())],
        "KeySchema": _key_schema(schema["key_schema"]),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Fn::GetAtt": [KEY, "Arn"]}},
    }
    if schema["global_secondary_indexes"]:
        properties["GlobalSecondaryIndexes"] = _indexes(schema["global_secondary_indexes"])
    if schema["local_secondary_indexes"]:
        properties["LocalSecondaryIndexes"] = _indexes(schema["local_secondary_indexes"])
    ttl = ttl_attribute(model)
    if ttl:
        properties["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
    return properties


def _table_resources(stage: Stage) -> dict[str, Any]:
    return {
        t.logical_id: {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": table_properties(t.model, t.name),
        }
        for t in stage.tables
    }


# --- key ---------------------------------------------------------------------------------------------


def _key_resources(stage: Stage) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountAdministersKey",
            "Effect": "Allow",
            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if stage.roles:
        # The roles go in a condition, not in Principal: KMS refuses a key policy naming a principal
        # that IAM has not propagated yet (MalformedPolicyDocumentException, not retried by
        # CloudFormation), which a role created moments earlier in the same stack can be.
        statements.append(
            {
                "Sid": "KeyportFunctionsUseKey",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": KEY_ACTIONS,
                "Resource": "*",
                "Condition": {
                    "ArnEquals": {"aws:PrincipalArn": [{"Fn::GetAtt": [role, "Arn"]} for role in stage.roles]},
                    "StringEquals": {"kms:CallerAccount": {"Ref": "AWS::AccountId"}},
                },
            }
        )
    return {
        KEY: {
            "Type": "AWS::KMS::Key",
            # The retained tables are encrypted with this key: deleting it would make them unreadable.
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Description": f"Keyport {stage.name}: envelope encryption of stored secrets, and table encryption",
                "EnableKeyRotation": True,
                "KeySpec": "SYMMETRIC_DEFAULT",
                "KeyUsage": "ENCRYPT_DECRYPT",
                "KeyPolicy": {"Version": "2012-10-17", "Statement": statements},
            },
        },
        KEY_ALIAS: {
            "Type": "AWS::KMS::Alias",
            "Properties": {"AliasName": stage.key_alias, "TargetKeyId": {"Ref": KEY}},
        },
    }


# --- access policy -----------------------------------------------------------------------------------


def _log_statements(stage: Stage) -> list[dict[str, Any]]:
    resources: list[Any] = []
    create_group = False
    for function in stage.functions:
        if function.log_group:
            resources.append({"Fn::GetAtt": [function.log_group, "Arn"]})  # ends with ":*"
        else:
            create_group = True
            group = "/aws/lambda/${" + function.logical_id + "}"
            resources.append(
                {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:" + group + ":*"}
            )
    if not resources:
        return []
    actions = ["logs:CreateLogGroup", *LOG_ACTIONS] if create_group else LOG_ACTIONS
    return [{"Sid": "OwnLogGroups", "Effect": "Allow", "Action": actions, "Resource": resources}]


def _table_statements(stage: Stage) -> list[dict[str, Any]]:
    # The stage's table prefix, not one ARN per table and index: listed one by one, 29 tables and their
    # indexes already passed the 6,144-character limit of a managed policy. load_stage makes sure that
    # no other stage's prefix falls under this one.
    if not stage.tables:
        return []
    tables = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/" + stage.table_prefix + "-*"
    resources = [{"Fn::Sub": tables}, {"Fn::Sub": tables + "/index/*"}]
    return [{"Sid": "StageTables", "Effect": "Allow", "Action": TABLE_ACTIONS, "Resource": resources}]


def _key_statements(stage: Stage) -> list[dict[str, Any]]:
    return [{"Sid": "StageKey", "Effect": "Allow", "Action": KEY_ACTIONS, "Resource": {"Fn::GetAtt": [KEY, "Arn"]}}]


def _invoke_statements(stage: Stage) -> list[dict[str, Any]]:
    resources = [{"Fn::GetAtt": [f.logical_id, "Arn"]} for f in stage.functions if f.invoked_by_app]
    if not resources:
        return []
    return [{"Sid": "InvokeOwnWorkers", "Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": resources}]


def _websocket_statements(stage: Stage) -> list[dict[str, Any]]:
    if stage.websocket_stage is None:
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


def _bucket_statements(stage: Stage) -> list[dict[str, Any]]:
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


# Each builder returns IAM statements for the access policy; add one per new kind of resource
# (S3 buckets, SQS queues, ...). They may name functions: the policy is not part of any role.
STATEMENTS: list[Callable[[Stage], list[dict[str, Any]]]] = [
    _log_statements,
    _table_statements,
    _key_statements,
    _invoke_statements,
    _websocket_statements,
    _bucket_statements,
]


def access_policy(stage: Stage) -> dict[str, Any]:
    """The one managed policy of every Chalice function role."""
    statements = [s for build in STATEMENTS for s in build(stage)]
    size = policy_size(stage, {"Version": "2012-10-17", "Statement": statements})
    if size > POLICY_SIZE_LIMIT:
        raise TemplateError(
            f"{ACCESS_POLICY} would take about {size} characters once deployed, over IAM's {POLICY_SIZE_LIMIT} "
            "for a managed policy: scope resources by prefix or split the policy."
        )
    return {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {
            "Description": f"Keyport {stage.name}: the stage's own tables, key and log groups",
            "Roles": [{"Ref": role} for role in stage.roles],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
        },
    }


def _access_resources(stage: Stage) -> dict[str, Any]:
    if not stage.roles:
        return {}
    resources: dict[str, Any] = {ACCESS_POLICY: access_policy(stage)}
    for role in stage.roles:
        # Replaces the deny-all placeholder of .chalice/policy-lambda.json (lists are replaced on merge).
        resources[role] = {"Properties": {"Policies": []}}
    return resources


def _function_overrides(stage: Stage) -> dict[str, Any]:
    # Chalice's own names (as `chalice deploy` would give them), not CloudFormation's random ones:
    # the app invokes its workers by name (FUNCTION_PREFIX + name, chalicelib/jobs/invoke.py).
    secrets = {env: {"Ref": parameter} for parameter, env in PARAMETER_ENVIRONMENT.items()}
    overrides: dict[str, Any] = {}
    for function in stage.functions:
        properties: dict[str, Any] = {"FunctionName": function.function_name}
        # Bucket names are global: every function reads the stage's publish bucket from its environment.
        variables: dict[str, Any] = {"PUBLISH_BUCKET": {"Ref": PUBLISH_BUCKET}}
        if function.logical_id in SECRET_FUNCTIONS:
            variables.update(secrets)
        properties["Environment"] = {"Variables": variables}
        overrides[function.logical_id] = {"Properties": properties}
    return overrides


def _bucket_resources(stage: Stage) -> dict[str, Any]:
    """The publishing bucket: private, encrypted, owned by the account (served through a CDN of yours)."""
    return {
        PUBLISH_BUCKET: {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": {"Fn::Sub": f"keyport-{stage.name}-publish-${{AWS::AccountId}}"},
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            },
        }
    }


def _log_group_overrides(stage: Stage) -> dict[str, Any]:
    # Chalice 1.34 names a log group after the function's first logical id: the API handler's
    # becomes "/aws/lambda/${ApiHandler}", a resource that does not exist once it is renamed APIHandler.
    # Logs outlive the stack (an audit trail); log_retention_in_days still expires them.
    return {
        f.log_group: {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {"LogGroupName": {"Fn::Sub": "/aws/lambda/${" + f.logical_id + "}"}},
        }
        for f in stage.functions
        if f.log_group
    }


# Each builder returns resources (or deep-merged overrides of Chalice's resources) by logical id.
RESOURCES: list[Callable[[Stage], dict[str, Any]]] = [
    _key_resources,
    _bucket_resources,
    _table_resources,
    _access_resources,
    _function_overrides,
    _log_group_overrides,
]


# IAM counts a managed policy's characters without whitespace, after CloudFormation resolved it.
POLICY_SIZE_LIMIT = 6144
# The longest values the pseudo parameters can take, to size a policy before it is deployed.
_LONGEST = {"AWS::Partition": "aws-us-gov", "AWS::Region": "x" * 16, "AWS::AccountId": "0" * 12}
_ARN_PREFIX = "arn:aws-us-gov:service-name:" + "x" * 16 + ":000000000000:"


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
    import re

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


# --- the fragment ------------------------------------------------------------------------------------


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
    }
    for table in stage.tables:
        outputs[f"{table.logical_id}Name"] = {
            "Description": f"DynamoDB table of {table.model.__name__}",
            "Value": {"Ref": table.logical_id},
        }
    parameters = PARAMETERS if any(f.logical_id in SECRET_FUNCTIONS for f in stage.functions) else {}
    return {"Parameters": parameters, "Resources": resources, "Outputs": outputs}


def generate(stage: str, *, project_dir: Path = PROJECT_DIR, require_defined: bool = True) -> dict[str, Any]:
    """The fragment of one stage (``require_defined=False`` allows a stage absent from config.json)."""
    return build(load_stage(stage, project_dir=project_dir, require_defined=require_defined))


# --- after chalice package ---------------------------------------------------------------------------


# CloudFormation's limit for a template body read from S3 (infra/deploy.sh uploads it compacted).
TEMPLATE_SIZE_LIMIT = 1024 * 1024


def finish(stage: Stage, outdir: Path, *, project_dir: Path = PROJECT_DIR) -> list[str]:
    """Strip bytecode caches from the zip, then check the merged template and the zip; the problems found."""
    template = json.loads((outdir / "sam.json").read_text())
    problems = _check_template(stage, template)
    compact = len(json.dumps(template, separators=(",", ":")).encode())
    print(f"sam.json: {compact / 1e3:.0f} kB compacted (CloudFormation limit: 1 MiB)", file=sys.stderr)
    if compact > TEMPLATE_SIZE_LIMIT:
        problems.append(f"the template takes {compact} bytes compacted, over CloudFormation's {TEMPLATE_SIZE_LIMIT}")
    zip_path = outdir / "deployment.zip"
    _strip_bytecode(zip_path)
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        unzipped = sum(i.file_size for i in archive.infolist())
    for required in ("app.py", "chalicelib/__init__.py", "chalicelib/settings.py"):
        if required not in names:
            problems.append(f"deployment.zip has no {required}")
    for source in sorted((project_dir / "integrations").glob("*.json")):
        if f"integrations/{source.name}" not in names:
            problems.append(f"deployment.zip has no integrations/{source.name} (is vendor/integrations a link?)")
    zipped = zip_path.stat().st_size
    print(
        f"deployment.zip: {zipped / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB unzipped, {len(names)} files "
        "(Lambda limits: 50 MB zipped upload, 250 MB unzipped)",
        file=sys.stderr,
    )
    if unzipped > 250 * 1024 * 1024:
        problems.append("deployment.zip unzips to more than Lambda's 250 MB")
    return problems


def _check_template(stage: Stage, template: dict[str, Any]) -> list[str]:
    resources = template.get("Resources", {})
    problems = [f"{name} has no Type after the merge" for name, r in resources.items() if "Type" not in r]
    attached = {ref["Ref"] for ref in resources.get(ACCESS_POLICY, {}).get("Properties", {}).get("Roles", [])}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        if name not in attached:
            problems.append(f"role {name} does not get {ACCESS_POLICY} (template generated for other functions?)")
        if resource.get("Properties", {}).get("Policies"):
            problems.append(f"role {name} keeps an inline policy")
    for name, resource in resources.items():
        if resource.get("Type") not in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            continue
        properties = resource["Properties"]
        variables = properties.get("Environment", {}).get("Variables", {})
        for key, value in (
            ("STAGE", stage.name),
            ("TABLE_PREFIX", stage.table_prefix),
            ("KMS_KEY_ID", stage.key_alias),
        ):
            if variables.get(key) != value:
                problems.append(f"function {name}: {key} is {variables.get(key)!r}, the template assumed {value!r}")
        if properties.get("Runtime") != "python3.11":
            problems.append(f"function {name}: runtime {properties.get('Runtime')} (package with Python 3.11)")
    for function in SECRET_FUNCTIONS:
        variables = resources.get(function, {}).get("Properties", {}).get("Environment", {}).get("Variables", {})
        if function in resources and variables.get("SECRET_KEY") != {"Ref": "SecretKey"}:
            problems.append(f"function {function} does not get the SecretKey parameter")
    return problems


def _strip_bytecode(zip_path: Path) -> None:
    """Drop ``__pycache__`` entries (left by local runs in chalicelib/) so the zip holds sources only."""
    with zipfile.ZipFile(zip_path) as archive:
        entries = archive.infolist()
        if not any("__pycache__/" in e.filename for e in entries):
            return
        stripped = zip_path.with_suffix(".stripped.zip")
        with zipfile.ZipFile(stripped, "w", zipfile.ZIP_DEFLATED) as out:
            for entry in entries:
                if "__pycache__/" not in entry.filename:
                    out.writestr(entry, archive.read(entry.filename))
    stripped.replace(zip_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.template", description=__doc__.split("\n")[0])
    parser.add_argument("--stage", required=True, help="a stage of .chalice/config.json")
    parser.add_argument("--finish", metavar="DIR", type=Path, help="check the output of chalice package in DIR")
    args = parser.parse_args(argv)
    try:
        stage = load_stage(args.stage)
        if args.finish is None:
            json.dump(build(stage), sys.stdout, indent=2, sort_keys=True)
            sys.stdout.write("\n")
            return 0
        problems = finish(stage, args.finish)
    except TemplateError as e:
        print(f"infra.template: {e}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"infra.template: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
