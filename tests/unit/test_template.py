"""The CloudFormation fragment (infra/template/), generated in-process: no AWS, no network."""

from __future__ import annotations

import fnmatch
import inspect
import json
import os
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, Index, LocalSecondaryIndex
from pynamodb.models import Model

from infra import template
from infra.template import policies

ROOT = Path(__file__).resolve().parent.parent.parent
TYPES = {UnicodeAttribute: "S", NumberAttribute: "N", BinaryAttribute: "B"}


@pytest.fixture(scope="module")
def fragment() -> dict[str, Any]:
    return template.generate("test", require_defined=False)


@pytest.fixture(scope="module")
def models() -> list[Any]:
    from chalicelib import aws

    return aws.all_models()


def _tables(fragment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Table resources by table name."""
    return {
        r["Properties"]["TableName"]: r
        for r in fragment["Resources"].values()
        if r.get("Type") == "AWS::DynamoDB::Table"
    }


def _type_of(attribute: Any) -> str:
    for cls, kind in TYPES.items():
        if isinstance(attribute, cls):
            return kind
    raise AssertionError(f"{attribute} cannot be a key")


def _indexes(model: Any, kind: type[Index[Any]]) -> list[Any]:
    return [value for _, value in inspect.getmembers(model) if isinstance(value, kind)]


def _keys(attributes: dict[str, Any]) -> list[dict[str, str]]:
    keys = [{"AttributeName": a.attr_name, "KeyType": "HASH"} for a in attributes.values() if a.is_hash_key]
    keys += [{"AttributeName": a.attr_name, "KeyType": "RANGE"} for a in attributes.values() if a.is_range_key]
    return keys


def test_one_table_per_model_with_the_names_the_app_uses(fragment: dict[str, Any], models: list[Any]) -> None:
    from chalicelib.settings import get_settings

    assert models, "no PynamoDB models found"
    tables = _tables(fragment)
    expected = {get_settings().table_name(m.Meta.aggregate) for m in models}
    assert set(tables) == expected
    assert {m.Meta.table_name for m in models} == expected  # what the app binds at import
    assert all(name.startswith("keyport-test-") for name in tables)


def test_keys_and_indexes_follow_the_models(fragment: dict[str, Any], models: list[Any]) -> None:
    tables = _tables(fragment)
    for model in models:
        properties = tables[model.Meta.table_name]["Properties"]
        attributes = model.get_attributes()
        assert properties["KeySchema"] == _keys(attributes), model.__name__
        definitions = {d["AttributeName"]: d["AttributeType"] for d in properties["AttributeDefinitions"]}
        declared = {a.attr_name: _type_of(a) for a in attributes.values() if a.is_hash_key or a.is_range_key}
        for kind, prop in (
            (GlobalSecondaryIndex, "GlobalSecondaryIndexes"),
            (LocalSecondaryIndex, "LocalSecondaryIndexes"),
        ):
            indexes = {i["IndexName"]: i for i in properties.get(prop, [])}
            model_indexes = _indexes(model, kind)
            assert set(indexes) == {i.Meta.index_name for i in model_indexes}, model.__name__
            for index in model_indexes:
                generated = indexes[index.Meta.index_name]
                assert generated["KeySchema"] == _keys(index.Meta.attributes), index.Meta.index_name
                assert generated["Projection"]["ProjectionType"] == index.Meta.projection.projection_type
                declared.update({a.attr_name: _type_of(a) for a in index.Meta.attributes.values()})
        # Exactly the key attributes of the table and its indexes, each with its DynamoDB type.
        assert definitions == declared, model.__name__


def test_tables_are_on_demand_recoverable_and_encrypted(fragment: dict[str, Any]) -> None:
    for table in _tables(fragment).values():
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert properties["SSESpecification"] == {
            "SSEEnabled": True,
            "SSEType": "KMS",
            "KMSMasterKeyId": {"Fn::GetAtt": [template.KEY, "Arn"]},
        }


def test_ttl_where_models_declare_it(fragment: dict[str, Any], models: list[Any]) -> None:
    tables = _tables(fragment)
    declared = [m for m in models if getattr(m.Meta, "ttl_attribute", None)]
    for model in models:
        ttl = tables[model.Meta.table_name]["Properties"].get("TimeToLiveSpecification")
        if model in declared:
            assert ttl == {"AttributeName": model.Meta.ttl_attribute, "Enabled": True}
        else:
            assert ttl is None, model.__name__


def test_a_ttl_attribute_without_meta_ttl_attribute_is_refused() -> None:
    from pynamodb.attributes import TTLAttribute

    class Undeclared(Model):  # no Meta.aggregate: all_models() never returns it
        class Meta:
            table_name = "not-a-keyport-table"

        id = UnicodeAttribute(hash_key=True)
        expires = TTLAttribute(null=True)

    with pytest.raises(template.TemplateError, match="ttl_attribute"):
        template.ttl_attribute(Undeclared)


def test_key_rotates_and_its_alias_is_the_one_the_app_uses(fragment: dict[str, Any]) -> None:
    from chalicelib.settings import get_settings

    key = fragment["Resources"][template.KEY]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "RetainExceptOnCreate" and key["UpdateReplacePolicy"] == "Retain"
    statements = {s["Sid"]: s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    assert statements["AccountAdministersKey"]["Principal"]["AWS"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"
    }
    assert statements["KeyportFunctionsUseKey"]["Action"] == template.KEY_ACTIONS
    alias = fragment["Resources"][template.KEY_ALIAS]["Properties"]
    assert alias == {"AliasName": get_settings().kms_key_id, "TargetKeyId": {"Ref": template.KEY}}
    assert alias["AliasName"] == "alias/keyport-test"


def _arn_matches(pattern: dict[str, str], arn: str) -> bool:
    """Whether an IAM resource pattern (an Fn::Sub in a fixed account and region) matches ``arn``."""
    resolved = pattern["Fn::Sub"].replace("${AWS::Partition}", "aws").replace("${AWS::Region}", "us-east-1")
    resolved = resolved.replace("${AWS::AccountId}", "123456789012")
    return fnmatch.fnmatchcase(arn, resolved)


def _policies(fragment: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each function's policy statements, by the function's logical id."""
    stage = template.load_stage("test", require_defined=False)
    resources = fragment["Resources"]
    return {
        f.logical_id: resources[f"{f.role}Policy"]["Properties"]["PolicyDocument"]["Statement"]
        for f in stage.functions
        if f.role
    }


def _statement(statements: list[dict[str, Any]], sid: str) -> dict[str, Any] | None:
    return next((s for s in statements if s["Sid"] == sid), None)


def _resources(statement: dict[str, Any] | None) -> list[Any]:
    if statement is None:
        return []
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def _granted_tables(fragment: dict[str, Any], statements: list[dict[str, Any]]) -> set[str]:
    """Names of the stage's tables that the statements grant (by ARN, or by the stage's prefix)."""
    tables = {
        logical: r["Properties"]["TableName"]
        for logical, r in fragment["Resources"].items()
        if "TableName" in r.get("Properties", {})
    }
    granted: set[str] = set()
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/"
    for resource in _resources(_statement(statements, "Tables")):
        if "Fn::GetAtt" in resource:
            granted.add(tables[resource["Fn::GetAtt"][0]])
        elif "Fn::Sub" in resource and resource["Fn::Sub"].startswith("${"):
            granted.add(tables[resource["Fn::Sub"][2:].split(".")[0]])
        else:
            granted |= {name for name in tables.values() if _arn_matches(resource, arn + name)}
    return granted


def test_every_role_gets_a_policy_of_its_own_and_loses_the_placeholder(fragment: dict[str, Any]) -> None:
    resources = fragment["Resources"]
    stage = template.load_stage("test", require_defined=False)
    assert "APIHandler" in {f.logical_id for f in stage.functions}
    assert len(stage.roles) == len(stage.functions)  # one role per function
    for function in stage.functions:
        assert resources[function.role] == {"Properties": {"Policies": []}}
        policy = resources[f"{function.role}Policy"]
        assert policy["Type"] == "AWS::IAM::Policy"
        assert policy["Properties"]["Roles"] == [{"Ref": function.role}]
    placeholder = json.loads((ROOT / ".chalice" / "policy-lambda.json").read_text())
    assert placeholder["Statement"][0]["Effect"] == "Deny"  # fails closed if ever deployed unmerged
    assert "Scan" not in json.dumps(resources)  # no Scan on a request path or in a sweep


def test_the_api_handler_gets_every_table_of_its_stage_and_no_other(
    fragment: dict[str, Any], models: list[Any]
) -> None:
    statements = _policies(fragment)["APIHandler"]
    tables = _statement(statements, "Tables")
    assert tables is not None and sorted(tables["Action"]) == sorted(template.TABLE_ACTIONS)
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/"
    for model in models:
        assert any(_arn_matches(p, arn + model.Meta.table_name) for p in tables["Resource"]), model.__name__
        for index in _indexes(model, Index):
            index_arn = f"{arn}{model.Meta.table_name}/index/{index.Meta.index_name}"
            assert any(_arn_matches(p, index_arn) for p in tables["Resource"]), index_arn
    for other in ("keyport-prod-authentications", "keyport-dev-authentications", "keyport-testing-x", "other"):
        assert not any(_arn_matches(p, arn + other) for p in tables["Resource"]), other
    other_region = "arn:aws:dynamodb:eu-west-1:123456789012:table/keyport-test-x"
    assert not any(_arn_matches(p, other_region) for p in tables["Resource"])


def test_the_websocket_sweep_gets_the_entity_store_tables_only(fragment: dict[str, Any]) -> None:
    policies = _policies(fragment)
    statements = policies["WsSweep"]
    granted = _granted_tables(fragment, statements)
    assert "keyport-test-platform-connections" in granted  # what it sweeps
    assert all(name.startswith("keyport-test-platform-") for name in granted), granted
    invoked = json.dumps(_resources(_statement(statements, "InvokeWorkers")))
    assert "BuildWorker" not in invoked
    assert _statement(statements, "PublishBucketObjects") is None
    assert _statement(statements, "Secrets") is None or "OperatorSecret" not in json.dumps(statements)


def test_the_build_worker_gets_publishing_tables_and_the_bucket_but_no_key(fragment: dict[str, Any]) -> None:
    statements = _policies(fragment)["BuildWorker"]
    granted = _granted_tables(fragment, statements)
    assert "keyport-test-publishing-projects" in granted
    assert all(name.startswith("keyport-test-publishing-") for name in granted), granted
    objects = _statement(statements, "PublishBucketObjects")
    assert objects is not None
    assert objects["Action"] == [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
    ]
    assert _statement(statements, "StageKey") is None
    assert _statement(statements, "OwnWebsocketConnections") is None
    assert _statement(statements, "InvokeWorkers") is None


def test_each_function_is_granted_exactly_the_tables_its_code_names(fragment: dict[str, Any]) -> None:
    from infra import access

    stage = template.load_stage("test", require_defined=False)
    workers = {f.name for f in stage.functions if f.invoked_by_app}
    policies = _policies(fragment)
    for function in stage.functions:
        reached = access.access(function.handler, workers)
        named = {t.name for t in stage.tables if (t.model.__module__, t.model.__name__) in reached.models}
        assert named, function.name
        assert _granted_tables(fragment, policies[function.logical_id]) == named, function.name


def test_policies_name_their_other_resources_exactly(fragment: dict[str, Any]) -> None:
    for function, statements in _policies(fragment).items():
        by_sid = {s["Sid"]: s for s in statements}
        by_sid.pop("Tables", None)
        if "StageKey" in by_sid:
            assert by_sid["StageKey"]["Resource"] == {"Fn::GetAtt": [template.KEY, "Arn"]}
        # No wildcard but for the connection ids (and methods) of the app's own websocket API...
        connections = by_sid.pop("OwnWebsocketConnections", None)
        if connections is not None:
            assert connections["Resource"]["Fn::Sub"].endswith(":${WebsocketAPI}/api/*/@connections/*")
        # ...for the objects of the stage's own publishing bucket, and the streams of its own log group.
        objects = by_sid.pop("PublishBucketObjects", None)
        if objects is not None:
            assert objects["Resource"] == {"Fn::Sub": "${" + template.PUBLISH_BUCKET + ".Arn}/*"}
            assert by_sid["PublishBucketList"]["Resource"] == {"Fn::GetAtt": [template.PUBLISH_BUCKET, "Arn"]}
        logs = by_sid.pop("OwnLogGroup")
        assert "Fn::GetAtt" in logs["Resource"] and logs["Resource"]["Fn::GetAtt"][0].endswith("LogGroup"), function
        assert "*" not in json.dumps([s["Resource"] for s in by_sid.values()]), function


def test_policies_fit_the_inline_policy_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    stage = template.load_stage("prod")
    api = stage.function("api_handler")
    assert api is not None
    document = template.function_policy(stage, api)["Properties"]["PolicyDocument"]
    assert template.policy_size(stage, document) <= template.POLICY_SIZE_LIMIT
    # One ARN per table, repeated: what listing every table and index one by one grows into.
    many = [{"Fn::GetAtt": [t.logical_id, "Arn"]} for t in stage.tables] * 10
    extra = [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": many}]
    monkeypatch.setattr(policies, "STATEMENTS", [*policies.STATEMENTS, lambda _stage, _function: extra])
    with pytest.raises(template.TemplateError, match="10240"):
        template.function_policy(stage, api)


def test_the_key_serves_the_roles_that_use_it(fragment: dict[str, Any]) -> None:
    stage = template.load_stage("test", require_defined=False)
    use = fragment["Resources"][template.KEY]["Properties"]["KeyPolicy"]["Statement"][1]
    roles = [a["Fn::GetAtt"][0] for a in use["Condition"]["ArnEquals"]["aws:PrincipalArn"]]
    assert "ApiHandlerRole" in roles and "BuildWorkerRole" not in roles
    assert roles == stage.key_users()
    assert use["Condition"]["StringEquals"] == {"kms:CallerAccount": {"Ref": "AWS::AccountId"}}


def test_functions_keep_the_names_the_app_invokes_them_by(fragment: dict[str, Any]) -> None:
    from chalicelib.settings import get_settings

    resources = fragment["Resources"]
    stage = template.load_stage("test", require_defined=False)
    assert resources["APIHandler"]["Properties"]["FunctionName"] == "keyport-test"
    workers = [f for f in stage.functions if f.invoked_by_app]
    assert {w.name for w in workers} == {"build_worker", "refresh_worker", "ws_open", "ws_push"}
    for function in stage.functions:
        assert resources[function.logical_id]["Properties"]["FunctionName"] == function.function_name
    for worker in workers:
        assert worker.function_name == get_settings().function_prefix + worker.name
    invoke = _statement(_policies(fragment)["APIHandler"], "InvokeWorkers")
    assert invoke is not None
    assert {r["Fn::GetAtt"][0] for r in invoke["Resource"]} == {"BuildWorker", "RefreshWorker", "WsPush", "WsOpen"}


def test_the_refresh_sweep_invokes_its_workers_whose_retries_and_failures_are_bounded_and_alarmed(
    fragment: dict[str, Any],
) -> None:
    resources = fragment["Resources"]
    stage = template.load_stage("test", require_defined=False)
    sweep, worker = stage.function("refresh_sweep"), stage.function("refresh_worker")
    assert sweep is not None and worker is not None
    invoke = _statement(_policies(fragment)[sweep.logical_id], "InvokeWorkers")
    assert invoke is not None
    assert [r["Fn::GetAtt"][0] for r in invoke["Resource"]] == [worker.logical_id]
    config = resources[worker.logical_id + "InvokeConfig"]["Properties"]
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (1, 300)
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [template.FAILURE_QUEUE, "Arn"]}
    filters = [r["Properties"] for r in resources.values() if r.get("Type") == "AWS::Logs::MetricFilter"]
    assert sorted(f["LogGroupName"]["Ref"] for f in filters) == sorted([sweep.log_group, worker.log_group])
    assert {f["MetricTransformations"][0]["MetricName"] for f in filters} == {"RefreshFailures"}


def test_secrets_are_generated_and_functions_get_only_their_arns(fragment: dict[str, Any]) -> None:
    resources = fragment["Resources"]
    operator = resources[template.OPERATOR_SECRET]
    assert operator["Type"] == "AWS::SecretsManager::Secret"
    generated = operator["Properties"]["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "current"
    assert json.loads(generated["SecretStringTemplate"]) == {"previous": "", "publishable": ""}
    hash_key = resources[template.HASH_KEY_SECRET]["Properties"]
    assert hash_key["GenerateSecretString"]["PasswordLength"] >= 32  # its own value, not derived from the operator key
    assert "Parameters" not in json.dumps(fragment["Resources"])
    assert not {"SecretKey", "PublishableKey"} & set(fragment["Parameters"])
    variables = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["OPERATOR_SECRET_ARN"] == {"Ref": template.OPERATOR_SECRET}
    assert variables["HASH_KEY_SECRET_ARN"] == {"Ref": template.HASH_KEY_SECRET}
    for name, resource in resources.items():
        plain = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        assert not {"SECRET_KEY", "PUBLISHABLE_KEY", "HASH_KEY"} & set(plain), name
    # Only what reads the operator keys may read their secret.
    policies = _policies(fragment)
    readers = [
        f for f, statements in policies.items() if "OperatorSecret" in json.dumps(_statement(statements, "Secrets"))
    ]
    assert "APIHandler" in readers and "BuildWorker" not in readers and "WsSweep" not in readers


def test_data_survives_deletes_and_replacements_but_not_a_failed_create(fragment: dict[str, Any]) -> None:
    kept = {"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Logs::LogGroup"}
    found = set()
    for name, resource in fragment["Resources"].items():
        if resource.get("Type") in kept or name.endswith("LogGroup"):
            found.add(resource.get("Type", "AWS::Logs::LogGroup"))
            assert resource["DeletionPolicy"] == "RetainExceptOnCreate", name
            assert resource["UpdateReplacePolicy"] == "Retain", name
    assert found == kept


def test_the_bucket_name_cannot_collide_across_accounts_and_regions(fragment: dict[str, Any]) -> None:
    name = fragment["Resources"][template.PUBLISH_BUCKET]["Properties"]["BucketName"]["Fn::Sub"]
    assert "${AWS::AccountId}" in name and "${AWS::Region}" in name
    longest = name.replace("${AWS::AccountId}", "0" * 12).replace("${AWS::Region}", "ap-southeast-12")
    assert len(template.load_stage("prod").name) and len(longest.replace("test", "prod")) <= 63  # S3's limit


def test_workers_retry_once_then_land_in_an_alarmed_queue(fragment: dict[str, Any]) -> None:
    resources = fragment["Resources"]
    stage = template.load_stage("test", require_defined=False)
    for worker in (f for f in stage.functions if f.invoked_by_app):
        config = resources[worker.logical_id + "InvokeConfig"]
        assert config["Type"] == "AWS::Lambda::EventInvokeConfig"
        properties = config["Properties"]
        assert properties["FunctionName"] == {"Ref": worker.logical_id}
        assert properties["MaximumRetryAttempts"] <= 1
        assert properties["DestinationConfig"]["OnFailure"]["Destination"] == {
            "Fn::GetAtt": [template.FAILURE_QUEUE, "Arn"]
        }
        sends = _statement(_policies(fragment)[worker.logical_id], "FailureQueue")
        assert sends is not None and sends["Action"] == ["sqs:SendMessage"]
    alarm = resources["AsyncFailureAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": [template.FAILURE_QUEUE, "QueueName"]}
    assert alarm["AlarmActions"] == [{"Ref": template.ALARM_TOPIC}]


def test_build_deadline_is_the_build_workers_timeout(fragment: dict[str, Any]) -> None:
    stage = template.load_stage("test", require_defined=False)
    worker = stage.function("build_worker")
    assert worker is not None
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert worker.timeout == config["lambda_functions"]["build_worker"]["lambda_timeout"]
    for function in stage.functions:
        variables = fragment["Resources"][function.logical_id]["Properties"]["Environment"]["Variables"]
        assert variables["BUILD_TIMEOUT_SECONDS"] == str(worker.timeout), function.name


def test_the_refresh_failure_filter_matches_a_sweep_with_failures_only(caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import shlex

    from chalicelib.jobs import refresh_sweep

    terms = shlex.split(template.REFRESH_FAILURE_PATTERN)
    wanted = [t for t in terms if not t.startswith("-")]
    unwanted = [t[1:] for t in terms if t.startswith("-")]

    def matches(line: str) -> bool:  # CloudWatch Logs: every term present, no excluded one
        return all(t in line for t in wanted) and not any(t in line for t in unwanted)

    lines = []
    for failed in (0, 2):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="keyport.sweep"):
            refresh_sweep.run(lambda: 600_000, only=[], now_ms=0)
            report = refresh_sweep.Report(selected=3, refreshed=3 - failed, failed=failed)
            refresh_sweep.log.info("refresh sweep: %s", report.as_dict())
        lines.append(caplog.records[-1].getMessage())
    assert caplog.records[0].getMessage().startswith("refresh sweep: ")  # the sweep's own line has this form
    assert not matches(lines[0]) and matches(lines[1])


def test_no_extra_stage_and_the_websocket_redeploys_when_routes_change(fragment: dict[str, Any]) -> None:
    assert fragment["Resources"]["RestAPI"]["Properties"]["OpenApiVersion"] == "2.0"

    def packaged(route_key: str) -> dict[str, Any]:
        return {
            "Resources": {
                "WebsocketAPIDeployment": {"Type": "AWS::ApiGatewayV2::Deployment", "DependsOn": ["Route"]},
                "Route": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"RouteKey": route_key}},
                "WebsocketAPIStage": {
                    "Type": "AWS::ApiGatewayV2::Stage",
                    "Properties": {"DeploymentId": {"Ref": "WebsocketAPIDeployment"}},
                },
            }
        }

    first, same, changed = packaged("$default"), packaged("$default"), packaged("$connect")
    names = [template.redeploy_websocket_on_change(t) for t in (first, same, changed)]
    assert names[0] == names[1] != names[2]
    assert names[0] in first["Resources"] and "WebsocketAPIDeployment" not in first["Resources"]
    assert first["Resources"]["WebsocketAPIStage"]["Properties"]["DeploymentId"] == {"Ref": names[0]}


def test_publishing_is_served_by_a_distribution_that_alone_may_read_the_bucket(fragment: dict[str, Any]) -> None:
    resources = fragment["Resources"]
    bucket = resources[template.PUBLISH_BUCKET]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    statements = resources["PublishBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allows) == 1 and allows[0]["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allows[0]["Action"] == "s3:GetObject"
    assert template.DISTRIBUTION in allows[0]["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    origin = resources[template.DISTRIBUTION]["Properties"]["DistributionConfig"]["Origins"][0]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["PublishOriginAccessControl", "Id"]}
    for function in template.load_stage("test", require_defined=False).functions:
        variables = resources[function.logical_id]["Properties"]["Environment"]["Variables"]
        assert variables["PUBLISH_BUCKET"] == {"Ref": template.PUBLISH_BUCKET}
        assert variables["PREVIEW_BASE_URL"]["Fn::Sub"] == "https://${PublishDistribution.DomainName}/preview"
        assert variables["PUBLISH_BASE_URL"]["Fn::Sub"] == "https://${PublishDistribution.DomainName}/publish"


def test_outputs_name_every_table(fragment: dict[str, Any]) -> None:
    values = [o["Value"] for o in fragment["Outputs"].values()]
    for logical, resource in fragment["Resources"].items():
        if resource.get("Type") == "AWS::DynamoDB::Table":
            assert {"Ref": logical} in values


def test_the_stack_outputs_the_dashboard_url_on_the_rest_api(fragment: dict[str, Any]) -> None:
    url = fragment["Outputs"]["DashboardURL"]["Value"]["Fn::Sub"]
    assert url == "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api/dashboard"
    from app import app

    assert "/dashboard" in app.routes  # the route the output points at


def test_generating_leaves_the_process_settings_alone() -> None:
    from chalicelib.settings import get_settings

    before = (os.environ.get("STAGE"), os.environ.get("TABLE_PREFIX"), get_settings())
    template.generate("prod")
    assert (os.environ.get("STAGE"), os.environ.get("TABLE_PREFIX"), get_settings()) == before


def test_stages_of_config_json_name_their_own_resources() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["autogen_policy"] is False
    for stage in ("dev", "prod"):
        assert config["stages"][stage]["environment_variables"]["STAGE"] == stage
        fragment = template.generate(stage)
        assert all(name.startswith(f"keyport-{stage}-") for name in _tables(fragment))
        assert fragment["Resources"][template.KEY_ALIAS]["Properties"]["AliasName"] == f"alias/keyport-{stage}"
    with pytest.raises(template.TemplateError, match="not defined"):
        template.generate("production")


def test_builtin_integrations_are_linked_into_the_package() -> None:
    link = ROOT / "vendor" / "integrations"
    assert link.is_symlink() and os.readlink(link) == "../integrations"
    assert (link / "github.json").is_file()


def test_runtime_requirements_are_pinned_to_the_tested_versions() -> None:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        name, _, version = requirement.partition("==")
        assert version, f"{requirement} is not pinned"
        assert metadata.version(name) == version, f"{name}: installed {metadata.version(name)}, pinned {version}"


def test_stages_whose_tables_nest_are_refused(tmp_path: Path) -> None:
    (tmp_path / ".chalice").mkdir()
    stages = {
        "dev": {"environment_variables": {"STAGE": "dev"}},
        "dev-eu": {"environment_variables": {"STAGE": "dev-eu"}},  # keyport-dev-eu-* is inside keyport-dev-*
    }
    config = {"version": "2.0", "app_name": "keyport", "autogen_policy": False, "stages": stages}
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(config))
    with pytest.raises(template.TemplateError, match="dev-eu"):
        template.load_stage("dev", project_dir=tmp_path)


def test_every_policy_check_skipped_says_why(fragment: dict[str, Any]) -> None:
    skipped = {
        logical: resource["Metadata"]["checkov"]["skip"]
        for logical, resource in fragment["Resources"].items()
        if "checkov" in resource.get("Metadata", {})
    }
    assert {"APIHandler", "RestAPI", template.PUBLISH_BUCKET, template.DISTRIBUTION} <= set(skipped)
    for logical, skips in skipped.items():
        for skip in skips:
            assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), logical
            assert len(skip["comment"]) >= 40, (logical, skip["id"])  # a reason, not a shrug
    for table in _tables(fragment).values():
        assert "Metadata" not in table  # the data itself passes every check


def test_the_access_analysis_follows_imports_inside_functions_and_by_name(tmp_path: Path) -> None:
    from infra import access

    def write(path: str, text: str) -> None:
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    write("app.py", "def job(event, context):\n    from chalicelib.jobs import run\n    return run.go()\n")
    write("chalicelib/__init__.py", "")
    write("chalicelib/jobs/__init__.py", "")
    write(
        "chalicelib/jobs/run.py",
        "import importlib\n\ndef go():\n    importlib.import_module('chalicelib.shop.store')\n",
    )
    write("chalicelib/shop/__init__.py", "")
    write("chalicelib/shop/models.py", "class Order: ...\nclass Refund: ...\n")
    write(
        "chalicelib/shop/store.py",
        "from chalicelib.shop import models\n\ndef save(aws):\n    aws.client('kms')\n    return models.Order\n",
    )
    write("chalicelib/other.py", "from chalicelib.shop.models import Refund\n")
    reached = access.access("app.job", set(), tmp_path)
    assert reached.models == {("chalicelib.shop.models", "Order")}  # not Refund: only other.py names it
    assert reached.key and not reached.bucket and not reached.websocket
    assert "chalicelib.other" not in reached.modules
