"""The packaged template, transformed as CloudFormation would, created in moto, and the app run from it.

The template is the one ``make package`` builds, generated in-process (infra/template/ merged into
Chalice's packager, with a stand-in zip: the code deployed is the code under test here), transformed
by aws-sam-translator, then created with moto's CloudFormation. The app is then configured only from
what the stack created: each function's environment, the tables, the key, the bucket, the secrets.
This proves that template and code agree: every table the code uses exists with the indexes and TTL
its model declares, every function gets the settings it reads, the key alias resolves, and each
service answers a request.

moto lacks some resource types (listed below with the reason); they are taken out before the stack is
created and every reference to them gets a stand-in value (a secret is created through the Secrets
Manager API instead, generated as its GenerateSecretString says).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

STAGE = "dev"
STACK = "keyport-dev"

# Resource types of the template that moto 5.2's CloudFormation cannot create, and why that is acceptable.
MISSING_IN_MOTO = {
    "AWS::SecretsManager::Secret": "no CloudFormation model: created here through the Secrets Manager API instead",
    "AWS::Lambda::EventInvokeConfig": "no model; retry limits and destinations act on asynchronous invocations only",
    "AWS::CloudWatch::Alarm": "no model; alarms observe metrics, which nothing here emits",
    "AWS::Logs::MetricFilter": "no model; it turns log lines into a metric for an alarm",
    "AWS::SNS::Subscription": "no model; the optional alarm e-mail",
    "AWS::S3::BucketPolicy": "no model; moto does not enforce bucket policies anyway",
    "AWS::CloudFront::Distribution": "no model; the functions get a stand-in domain for the publishing URLs",
    "AWS::CloudFront::OriginAccessControl": "no model; only the distribution uses it",
    "AWS::CloudFront::Function": "no model; only the distribution uses it",
    "AWS::ApiGateway::Stage": "no model; the REST API is exercised through the app, not API Gateway",
    "AWS::ApiGatewayV2::Api": "no model; the websocket API is played by the local gateway in the e2e tests",
    "AWS::ApiGatewayV2::Route": "no model (websocket API)",
    "AWS::ApiGatewayV2::Integration": "no model (websocket API)",
    "AWS::ApiGatewayV2::Stage": "no model (websocket API)",
    "AWS::ApiGatewayV2::Deployment": "no model (websocket API)",
}
# Types moto models, but not far enough for this template.
INCOMPLETE_IN_MOTO = {
    "AWS::ApiGateway::RestApi": "moto's model ignores the Swagger body, so the API would have no methods",
    "AWS::ApiGateway::Deployment": "deploying a REST API without methods fails (see above)",
}
TAKEN_OUT = {**MISSING_IN_MOTO, **INCOMPLETE_IN_MOTO}
STAND_INS = {("PublishDistribution", "DomainName"): "d111111abcdef8.cloudfront.net"}


class _Context:
    """A Lambda context with plenty of time left."""

    function_name = "keyport-dev"
    aws_request_id = "emulated"

    def get_remaining_time_in_millis(self) -> int:
        return 600_000


def _sam_template(workdir: Path) -> dict[str, Any]:
    """``build/dev/sam.json`` as infra/package.sh makes it, with a stand-in for the zip (no download)."""
    from chalice.cli.factory import CLIFactory
    from chalice.deploy import deployer
    from chalice.package import create_app_packager

    from infra import template

    fragment = workdir / "resources.json"
    fragment.write_text(json.dumps(template.generate(STAGE)))
    code = workdir / "code.zip"
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "")

    class StandInZip(deployer.BaseDeployStep):
        def handle_deploymentpackage(self, config: Any, resource: Any) -> None:
            resource.filename = str(code)

    factory = CLIFactory(str(template.PROJECT_DIR), environ=dict(os.environ))
    config = factory.create_config_obj(chalice_stage_name=STAGE)
    packager = create_app_packager(config, factory.create_package_options(), merge_template=str(fragment))
    steps = packager._resource_builder._build_stage._steps
    steps[:] = [StandInZip() if isinstance(s, deployer.DeploymentPackager) else s for s in steps]
    packager.package_app(config, str(workdir / "out"), STAGE)
    sam: dict[str, Any] = json.loads((workdir / "out" / "sam.json").read_text())
    template.redeploy_websocket_on_change(sam)
    return sam


def _transform(sam: dict[str, Any]) -> dict[str, Any]:
    """What CloudFormation's Serverless transform makes of it (after `aws cloudformation package`)."""
    from samtranslator.translator.transform import transform

    for resource in sam["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = {"Bucket": "artifacts", "Key": "deployment.zip"}

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    cfn: dict[str, Any] = transform(sam, {}, NoManagedPolicies())
    return cfn


def _replace(value: Any, refs: dict[str, Any], attrs: dict[tuple[str, str], Any]) -> Any:
    if isinstance(value, list):
        return [_replace(v, refs, attrs) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"} and value["Ref"] in refs:
        return refs[value["Ref"]]
    if set(value) == {"Fn::GetAtt"} and value["Fn::GetAtt"][0] in refs:
        logical, attribute = value["Fn::GetAtt"]
        return attrs.get((logical, attribute), f"{logical}-{attribute}-stand-in")
    if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):

        def stand_in(match: re.Match[str]) -> str:
            logical, _, attribute = match.group(1).partition(".")
            if logical not in refs:
                return match.group(0)
            return str(
                attrs.get((logical, attribute), f"{logical}-{attribute}-stand-in") if attribute else refs[logical]
            )

        return {"Fn::Sub": re.sub(r"\$\{([A-Za-z0-9]+(?:\.[A-Za-z]+)?)\}", stand_in, value["Fn::Sub"])}
    return {k: _replace(v, refs, attrs) for k, v in value.items()}


def _without_missing_types(cfn: dict[str, Any], manager: Any) -> dict[str, Any]:
    """Take out what moto cannot create; secrets are made through their API, the rest gets stand-ins."""
    cfn = json.loads(json.dumps(cfn))
    resources = cfn["Resources"]
    refs: dict[str, Any] = {}
    for logical, resource in list(resources.items()):
        if resource["Type"] not in TAKEN_OUT:
            continue
        del resources[logical]
        refs[logical] = f"{logical}-stand-in"
        if resource["Type"] == "AWS::SecretsManager::Secret":
            generate = resource["Properties"]["GenerateSecretString"]
            value = secrets.token_urlsafe(48)[: generate["PasswordLength"]]
            if "GenerateStringKey" in generate:
                document = json.loads(generate["SecretStringTemplate"])
                document[generate["GenerateStringKey"]] = value
                value = json.dumps(document)
            refs[logical] = manager.create_secret(Name=f"{STACK}-{logical}", SecretString=value)["ARN"]
    for resource in resources.values():
        depends = resource.get("DependsOn")
        if depends:
            kept = [d for d in ([depends] if isinstance(depends, str) else depends) if d not in refs]
            resource["DependsOn"] = kept
            if not kept:
                del resource["DependsOn"]
    return dict(_replace(cfn, refs, STAND_INS))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The stack created in moto; yields the transformed template and the functions' configurations."""
    import boto3
    from moto import mock_aws

    workdir = tmp_path_factory.mktemp("stack")
    cfn = _transform(_sam_template(workdir))
    with mock_aws():
        from moto.cloudformation.parsing import get_model_map

        lacking = {r["Type"] for r in cfn["Resources"].values()} - set(get_model_map())
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="artifacts")
        s3.put_object(Bucket="artifacts", Key="deployment.zip", Body=(workdir / "code.zip").read_bytes())
        created = _without_missing_types(cfn, boto3.client("secretsmanager", region_name="us-east-1"))
        s3.put_object(Bucket="artifacts", Key="template.json", Body=json.dumps(created).encode())
        formation = boto3.client("cloudformation", region_name="us-east-1")
        formation.create_stack(
            StackName=STACK,
            TemplateURL="https://artifacts.s3.amazonaws.com/template.json",
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        lambdas = boto3.client("lambda", region_name="us-east-1")
        functions = {
            f["FunctionName"]: lambdas.get_function_configuration(FunctionName=f["FunctionName"])
            for f in lambdas.list_functions()["Functions"]
        }
        yield {"cfn": cfn, "lacking": lacking, "formation": formation, "functions": functions}


@pytest.fixture
def configured_as(stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Configure this process exactly as one deployed function: its environment and nothing else."""
    from chalicelib import aws, catalog, crypto, secret_keys
    from chalicelib.settings import clear_settings, get_settings

    def configure(function_name: str) -> dict[str, str]:
        variables: dict[str, str] = stack["functions"][function_name]["Environment"]["Variables"]
        for name in list(os.environ):
            if name not in ("PATH", "HOME") and not name.startswith(("AWS_", "PYTEST", "MOTO")):
                monkeypatch.delenv(name)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        clear_settings()
        get_settings()
        aws.reset()
        secret_keys.forget()
        crypto.keyring.clear()
        catalog.forget_custom()
        return variables

    yield configure
    clear_settings()
    aws.reset()
    secret_keys.forget()


def test_moto_lacks_exactly_the_listed_resource_types(stack: dict[str, Any]) -> None:
    assert stack["lacking"] == set(MISSING_IN_MOTO)


def test_the_stack_is_created_with_every_resource(stack: dict[str, Any]) -> None:
    formation = stack["formation"]
    status = formation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
    assert status == "CREATE_COMPLETE"
    created = formation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    expected = [r for r in stack["cfn"]["Resources"].values() if r["Type"] not in TAKEN_OUT]
    assert len(created) == len(expected)
    assert {r["ResourceStatus"] for r in created} == {"CREATE_COMPLETE"}
    rest_stages = [r for r in stack["cfn"]["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert [s["Properties"]["StageName"] for s in rest_stages] == ["api"]  # no extra "Stage" stage
    deployments = [r for r in stack["cfn"]["Resources"].values() if r["Type"] == "AWS::ApiGateway::Deployment"]
    assert len(deployments) == 1 and "StageName" not in deployments[0]["Properties"]


def test_every_table_the_code_uses_exists_with_its_indexes_and_ttl(stack: dict[str, Any], configured_as: Any) -> None:
    import boto3

    from chalicelib import aws
    from infra.template import ttl_attribute

    configured_as("keyport-dev")
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    specified = {
        r["Properties"]["TableName"]: r["Properties"]
        for r in stack["cfn"]["Resources"].values()
        if r["Type"] == "AWS::DynamoDB::Table"
    }
    for model in aws.all_models():
        table = dynamodb.describe_table(TableName=model.Meta.table_name)["Table"]
        schema = model._get_schema()
        wanted = {i["index_name"] for i in schema["global_secondary_indexes"]}
        assert {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])} == wanted, model.__name__
        keys = sorted((k["AttributeName"], k["KeyType"]) for k in table["KeySchema"])
        assert keys == sorted((k["AttributeName"], k["KeyType"]) for k in schema["key_schema"]), model.__name__
        # moto's table model ignores TimeToLiveSpecification: check what the stack asked for instead.
        ttl = specified[model.Meta.table_name].get("TimeToLiveSpecification")
        declared = ttl_attribute(model)
        assert ttl == ({"AttributeName": declared, "Enabled": True} if declared else None), model.__name__


def test_every_function_gets_what_its_settings_name(stack: dict[str, Any]) -> None:
    import boto3

    functions = stack["functions"]
    assert len(functions) == 11
    buckets = {b["Name"] for b in boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"]}
    aliases = {a["AliasName"] for a in boto3.client("kms", region_name="us-east-1").list_aliases()["Aliases"]}
    manager = boto3.client("secretsmanager", region_name="us-east-1")
    for name, configuration in functions.items():
        variables = configuration["Environment"]["Variables"]
        assert configuration["Runtime"] == "python3.13", name
        assert variables["PUBLISH_BUCKET"] in buckets, name
        assert variables["KMS_KEY_ID"] in aliases, name
        assert variables["PREVIEW_BASE_URL"] == "https://d111111abcdef8.cloudfront.net/preview", name
        assert not {"SECRET_KEY", "HASH_KEY", "PUBLISHABLE_KEY"} & set(variables), name
        for arn in (variables.get("OPERATOR_SECRET_ARN"), variables.get("HASH_KEY_SECRET_ARN")):
            if arn:
                assert manager.get_secret_value(SecretId=arn)["SecretString"], name
    assert "OPERATOR_SECRET_ARN" in functions["keyport-dev"]["Environment"]["Variables"]


def _call(client: Any, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    data = b""
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    response = client.http.request(method, path, headers=headers, body=data)
    return response.status_code, json.loads(response.body) if response.body else None


def test_every_service_answers_with_the_app_configured_from_the_stack(
    stack: dict[str, Any], configured_as: Any
) -> None:
    import boto3
    from chalice.test import Client

    from app import app

    variables = configured_as("keyport-dev")
    # What an operator does after a first deploy: read the generated key (infra/deploy.sh prints how).
    manager = boto3.client("secretsmanager", region_name="us-east-1")
    key = json.loads(manager.get_secret_value(SecretId=variables["OPERATOR_SECRET_ARN"])["SecretString"])["current"]
    assert len(key) >= 32
    with Client(app) as client:
        status, body = _call(
            client, "POST", "/api/github/configurations", key, {"credentials": {"clientId": "i", "clientSecret": "s"}}
        )
        assert status == 201, body  # integrations: a table and the key (the client secret is sealed)
        assert _call(client, "GET", "/api/github/configurations", key)[0] == 200
        status, body = _call(client, "POST", "/admin/customers", key, {"name": "Acme"})
        assert status == 201, body  # credential broker
        status, body = _call(client, "GET", "/api/v1/users", key)
        assert status == 200, body  # repo tags, as the operator
        status, body = _call(client, "POST", "/admin/autotune/users", key, {"email": "a@example.com", "name": "A"})
        assert status == 201, body  # publishing
        status, body = _call(
            client, "POST", "/admin/platform/users", key, {"login": "ann", "password": "pw-0123456789", "group": "ops"}
        )
        assert status == 201, body  # entity store
        assert _call(client, "GET", "/api/github/configurations", "not-the-key-0123456789")[0] == 401


@pytest.mark.parametrize(
    ("function_name", "handler", "event"),
    [
        ("keyport-dev-refresh_sweep", "refresh_sweep", {"detail-type": "Scheduled Event"}),
        ("keyport-dev-refresh_worker", "refresh_worker", {"shards": [["integrations", 0]], "stop_at": 0}),
        ("keyport-dev-build_sweep", "build_sweep", {"detail-type": "Scheduled Event"}),
        ("keyport-dev-ws_sweep", "ws_sweep", {"detail-type": "Scheduled Event"}),
        ("keyport-dev-build_worker", "build_worker", {"job": "project", "id": 1, "job_id": "gone"}),
        ("keyport-dev-ws_open", "ws_open", {"connectionId": "gone"}),
        ("keyport-dev-ws_push", "ws_push", {"frame": "42[]", "targets": [["nobody", "user"]]}),
    ],
)
def test_background_functions_run_from_their_own_environment(
    stack: dict[str, Any], configured_as: Any, function_name: str, handler: str, event: dict[str, Any]
) -> None:
    from app import app

    configured_as(function_name)
    scheduled = {
        "version": "0",
        "id": "e",
        "source": "aws.events",
        "account": "123456789012",
        "time": "",
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }
    result = app.handler_map[handler]({**scheduled, **event} if "detail-type" in event else event, _Context())
    assert isinstance(result, dict)
