"""The CloudFormation fragment (infra/template.py), generated in-process: no AWS, no network."""

from __future__ import annotations

import fnmatch
import inspect
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, Index, LocalSecondaryIndex
from pynamodb.models import Model

from infra import template

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


def test_tables_are_on_demand_recoverable_encrypted_and_retained(fragment: dict[str, Any]) -> None:
    for name, table in _tables(fragment).items():
        properties = table["Properties"]
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain", name
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
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"
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


def test_access_policy_covers_the_stage_tables_and_indexes_only(fragment: dict[str, Any], models: list[Any]) -> None:
    policy = fragment["Resources"][template.ACCESS_POLICY]["Properties"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    granted = statements["StageTables"]["Resource"]
    assert sorted(statements["StageTables"]["Action"]) == sorted(template.TABLE_ACTIONS)
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/"
    for model in models:
        assert any(_arn_matches(p, arn + model.Meta.table_name) for p in granted), model.__name__
        for index in _indexes(model, Index):
            index_arn = f"{arn}{model.Meta.table_name}/index/{index.Meta.index_name}"
            assert any(_arn_matches(p, index_arn) for p in granted), index_arn
    for other in ("keyport-prod-authentications", "keyport-dev-authentications", "keyport-testing-x", "other"):
        assert not any(_arn_matches(p, arn + other) for p in granted), other
    assert not any(_arn_matches(p, "arn:aws:dynamodb:eu-west-1:123456789012:table/keyport-test-x") for p in granted)
    assert "Scan" not in json.dumps(policy)  # no Scan on a request path or in a sweep


def test_access_policy_names_its_other_resources_exactly(fragment: dict[str, Any]) -> None:
    policy = fragment["Resources"][template.ACCESS_POLICY]["Properties"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert statements.pop("StageTables")
    assert statements["StageKey"]["Resource"] == {"Fn::GetAtt": [template.KEY, "Arn"]}
    # No wildcard but for the connection ids (and methods) of the app's own websocket API.
    connections = statements.pop("OwnWebsocketConnections", None)
    if connections is not None:
        assert connections["Resource"]["Fn::Sub"].endswith(":${WebsocketAPI}/api/*/@connections/*")
    # ...and for the objects of the stage's own publishing bucket.
    objects = statements.pop("PublishBucketObjects")
    assert objects["Resource"] == {"Fn::Sub": "${" + template.PUBLISH_BUCKET + ".Arn}/*"}
    assert statements["PublishBucketList"]["Resource"] == {"Fn::GetAtt": [template.PUBLISH_BUCKET, "Arn"]}
    assert "*" not in json.dumps([s["Resource"] for s in statements.values()])


def test_the_publish_bucket_is_private_encrypted_and_named_to_every_function(fragment: dict[str, Any]) -> None:
    bucket = fragment["Resources"][template.PUBLISH_BUCKET]
    assert bucket["DeletionPolicy"] == "Retain"
    assert all(bucket["Properties"]["PublicAccessBlockConfiguration"].values())
    assert bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    functions = [r for r in fragment["Resources"].values() if "FunctionName" in r.get("Properties", {})]
    assert functions
    for function in functions:
        assert function["Properties"]["Environment"]["Variables"]["PUBLISH_BUCKET"] == {"Ref": template.PUBLISH_BUCKET}


def test_access_policy_fits_the_managed_policy_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    stage = template.load_stage("prod")
    document = template.access_policy(stage)["Properties"]["PolicyDocument"]
    assert template.policy_size(stage, document) <= template.POLICY_SIZE_LIMIT
    # One ARN per table, repeated: what listing every table and index one by one grows into.
    many = [{"Fn::GetAtt": [t.logical_id, "Arn"]} for t in stage.tables] * 10
    extra = [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": many}]
    monkeypatch.setattr(template, "STATEMENTS", [*template.STATEMENTS, lambda _stage: extra])
    with pytest.raises(template.TemplateError, match="6144"):
        template.access_policy(stage)


def test_every_function_role_gets_the_policy_and_loses_the_placeholder(fragment: dict[str, Any]) -> None:
    resources = fragment["Resources"]
    stage = template.load_stage("test", require_defined=False)
    assert "APIHandler" in {f.logical_id for f in stage.functions}
    roles = stage.roles
    assert roles and "ApiHandlerRole" in roles
    assert resources[template.ACCESS_POLICY]["Properties"]["Roles"] == [{"Ref": r} for r in roles]
    for role in roles:
        assert resources[role] == {"Properties": {"Policies": []}}
    use = resources[template.KEY]["Properties"]["KeyPolicy"]["Statement"][1]
    assert use["Condition"]["ArnEquals"]["aws:PrincipalArn"] == [{"Fn::GetAtt": [r, "Arn"]} for r in roles]
    assert use["Condition"]["StringEquals"] == {"kms:CallerAccount": {"Ref": "AWS::AccountId"}}
    placeholder = json.loads((ROOT / ".chalice" / "policy-lambda.json").read_text())
    assert placeholder["Statement"][0]["Effect"] == "Deny"  # fails closed if ever deployed unmerged


def test_functions_keep_the_names_the_app_invokes_them_by(fragment: dict[str, Any]) -> None:
    from chalicelib.settings import get_settings

    resources = fragment["Resources"]
    stage = template.load_stage("test", require_defined=False)
    assert resources["APIHandler"]["Properties"]["FunctionName"] == "keyport-test"
    workers = [f for f in stage.functions if f.invoked_by_app]
    for function in stage.functions:
        assert resources[function.logical_id]["Properties"]["FunctionName"] == function.function_name
    for worker in workers:
        assert worker.function_name == get_settings().function_prefix + worker.name
    policy = resources[template.ACCESS_POLICY]["Properties"]["PolicyDocument"]["Statement"]
    invoke = [s for s in policy if s["Sid"] == "InvokeOwnWorkers"]
    if workers:
        assert invoke[0]["Resource"] == [{"Fn::GetAtt": [w.logical_id, "Arn"]} for w in workers]
    else:
        assert not invoke


def test_secret_parameters_reach_the_api_handler_only(fragment: dict[str, Any]) -> None:
    parameters = fragment["Parameters"]
    assert parameters["SecretKey"]["NoEcho"] is True
    assert "Default" not in parameters["SecretKey"]
    assert parameters["PublishableKey"]["NoEcho"] is True
    variables = fragment["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["SECRET_KEY"] == {"Ref": "SecretKey"}
    assert variables["PUBLISHABLE_KEY"] == {"Ref": "PublishableKey"}
    others = [r for name, r in fragment["Resources"].items() if name != "APIHandler"]
    assert '"SecretKey"' not in json.dumps(others)


def test_outputs_name_every_table(fragment: dict[str, Any]) -> None:
    values = [o["Value"] for o in fragment["Outputs"].values()]
    for logical, resource in fragment["Resources"].items():
        if resource.get("Type") == "AWS::DynamoDB::Table":
            assert {"Ref": logical} in values


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
