"""One DynamoDB table per aggregate, with the schema PynamoDB would create."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import TTLAttribute

from infra.template.names import KEY, RETAINED
from infra.template.stage import Stage, TemplateError

ATTRIBUTE_TYPES = {"S", "N", "B"}


def ttl_attribute(model: Any) -> str | None:
    """The DynamoDB name of the model's TTL attribute (``Meta.ttl_attribute``), or None."""

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


def table_resources(stage: Stage) -> dict[str, Any]:
    return {
        t.logical_id: {
            "Type": "AWS::DynamoDB::Table",
            **RETAINED,
            "Properties": table_properties(t.model, t.name),
        }
        for t in stage.tables
    }
