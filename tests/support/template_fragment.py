"""Reading the CloudFormation fragment in the template's tests (tests/unit/template/): tables, policies, statements."""

from __future__ import annotations

import fnmatch
import inspect
from pathlib import Path
from typing import Any

from pynamodb.indexes import Index

from infra import template

ROOT = Path(__file__).resolve().parent.parent.parent


def tables_by_name(fragment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Table resources by table name."""
    return {
        r["Properties"]["TableName"]: r
        for r in fragment["Resources"].values()
        if r.get("Type") == "AWS::DynamoDB::Table"
    }


def indexes_of(model: Any, kind: type[Index[Any]]) -> list[Any]:
    return [value for _, value in inspect.getmembers(model) if isinstance(value, kind)]


def arn_matches(pattern: dict[str, str], arn: str) -> bool:
    """Whether an IAM resource pattern (an Fn::Sub in a fixed account and region) matches ``arn``."""
    resolved = pattern["Fn::Sub"].replace("${AWS::Partition}", "aws").replace("${AWS::Region}", "us-east-1")
    resolved = resolved.replace("${AWS::AccountId}", "123456789012")
    return fnmatch.fnmatchcase(arn, resolved)


def policies_by_function(fragment: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each function's policy statements, by the function's logical id."""
    stage = template.load_stage("test", require_defined=False)
    resources = fragment["Resources"]
    return {
        f.logical_id: resources[f"{f.role}Policy"]["Properties"]["PolicyDocument"]["Statement"]
        for f in stage.functions
        if f.role
    }


def statement(statements: list[dict[str, Any]], sid: str) -> dict[str, Any] | None:
    return next((s for s in statements if s["Sid"] == sid), None)


def statement_resources(statement: dict[str, Any] | None) -> list[Any]:
    if statement is None:
        return []
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def granted_tables(fragment: dict[str, Any], statements: list[dict[str, Any]]) -> set[str]:
    """Names of the stage's tables that the statements grant (by ARN, or by the stage's prefix)."""
    tables = {
        logical: r["Properties"]["TableName"]
        for logical, r in fragment["Resources"].items()
        if "TableName" in r.get("Properties", {})
    }
    granted: set[str] = set()
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/"
    for resource in statement_resources(statement(statements, "Tables")):
        if "Fn::GetAtt" in resource:
            granted.add(tables[resource["Fn::GetAtt"][0]])
        elif "Fn::Sub" in resource and resource["Fn::Sub"].startswith("${"):
            granted.add(tables[resource["Fn::Sub"][2:].split(".")[0]])
        else:
            granted |= {name for name in tables.values() if arn_matches(resource, arn + name)}
    return granted
