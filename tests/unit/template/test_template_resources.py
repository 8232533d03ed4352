"""The stack's other resources: key, secrets, asynchronous work, alarms, retention, publishing, outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import template
from tests.support.template_fragment import ROOT, policies_by_function, statement


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


def test_the_refresh_sweep_invokes_its_workers_whose_retries_and_failures_are_bounded_and_alarmed(
    fragment: dict[str, Any],
) -> None:
    resources = fragment["Resources"]
    stage = template.load_stage("test", require_defined=False)
    sweep, worker = stage.function("refresh_sweep"), stage.function("refresh_worker")
    assert sweep is not None and worker is not None
    invoke = statement(policies_by_function(fragment)[sweep.logical_id], "InvokeWorkers")
    assert invoke is not None
    assert [r["Fn::GetAtt"][0] for r in invoke["Resource"]] == [worker.logical_id]
    assert statement(policies_by_function(fragment)[worker.logical_id], "InvokeWorkers") is None  # nor itself
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
    policies = policies_by_function(fragment)
    readers = [
        f for f, statements in policies.items() if "OperatorSecret" in json.dumps(statement(statements, "Secrets"))
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
        sends = statement(policies_by_function(fragment)[worker.logical_id], "FailureQueue")
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
