"""One policy per function role, granting what its code reaches (infra/template/policies.py, infra/access.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pynamodb.indexes import Index

from infra import template
from infra.template import policies
from tests.support.template_fragment import (
    ROOT,
    arn_matches,
    granted_tables,
    indexes_of,
    policies_by_function,
    statement,
    statement_resources,
)


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
    statements = policies_by_function(fragment)["APIHandler"]
    tables = statement(statements, "Tables")
    assert tables is not None and sorted(tables["Action"]) == sorted(template.TABLE_ACTIONS)
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/"
    for model in models:
        assert any(arn_matches(p, arn + model.Meta.table_name) for p in tables["Resource"]), model.__name__
        for index in indexes_of(model, Index):
            index_arn = f"{arn}{model.Meta.table_name}/index/{index.Meta.index_name}"
            assert any(arn_matches(p, index_arn) for p in tables["Resource"]), index_arn
    for other in ("keyport-prod-authentications", "keyport-dev-authentications", "keyport-testing-x", "other"):
        assert not any(arn_matches(p, arn + other) for p in tables["Resource"]), other
    other_region = "arn:aws:dynamodb:eu-west-1:123456789012:table/keyport-test-x"
    assert not any(arn_matches(p, other_region) for p in tables["Resource"])


def test_the_websocket_sweep_gets_the_entity_store_tables_only(fragment: dict[str, Any]) -> None:
    policies = policies_by_function(fragment)
    statements = policies["WsSweep"]
    granted = granted_tables(fragment, statements)
    assert "keyport-test-platform-connections" in granted  # what it sweeps
    assert all(name.startswith("keyport-test-platform-") for name in granted), granted
    invoked = json.dumps(statement_resources(statement(statements, "InvokeWorkers")))
    assert "BuildWorker" not in invoked
    assert statement(statements, "PublishBucketObjects") is None
    assert statement(statements, "Secrets") is None or "OperatorSecret" not in json.dumps(statements)


def test_the_build_worker_gets_publishing_tables_and_the_bucket_but_no_key(fragment: dict[str, Any]) -> None:
    statements = policies_by_function(fragment)["BuildWorker"]
    granted = granted_tables(fragment, statements)
    assert "keyport-test-publishing-projects" in granted
    assert all(name.startswith("keyport-test-publishing-") for name in granted), granted
    objects = statement(statements, "PublishBucketObjects")
    assert objects is not None
    assert objects["Action"] == [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
    ]
    assert statement(statements, "StageKey") is None
    assert statement(statements, "OwnWebsocketConnections") is None
    assert statement(statements, "InvokeWorkers") is None


def test_each_function_is_granted_exactly_the_tables_its_code_names(fragment: dict[str, Any]) -> None:
    from infra import access

    stage = template.load_stage("test", require_defined=False)
    workers = {f.name for f in stage.functions if f.invoked_by_app}
    policies = policies_by_function(fragment)
    for function in stage.functions:
        reached = access.access(function.handler, workers)
        named = {t.name for t in stage.tables if (t.model.__module__, t.model.__name__) in reached.models}
        assert named, function.name
        assert granted_tables(fragment, policies[function.logical_id]) == named, function.name


def test_policies_name_their_other_resources_exactly(fragment: dict[str, Any]) -> None:
    for function, statements in policies_by_function(fragment).items():
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
    invoke = statement(policies_by_function(fragment)["APIHandler"], "InvokeWorkers")
    assert invoke is not None
    assert {r["Fn::GetAtt"][0] for r in invoke["Resource"]} == {"BuildWorker", "RefreshWorker", "WsPush", "WsOpen"}


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
