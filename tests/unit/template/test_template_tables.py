"""One DynamoDB table per model: names, keys, indexes, TTL, encryption (infra/template/tables.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, LocalSecondaryIndex
from pynamodb.models import Model

from infra import template
from tests.support.template_fragment import indexes_of, tables_by_name

TYPES = {UnicodeAttribute: "S", NumberAttribute: "N", BinaryAttribute: "B"}


def _type_of(attribute: Any) -> str:
    for cls, kind in TYPES.items():
        if isinstance(attribute, cls):
            return kind
    raise AssertionError(f"{attribute} cannot be a key")


def _keys(attributes: dict[str, Any]) -> list[dict[str, str]]:
    keys = [{"AttributeName": a.attr_name, "KeyType": "HASH"} for a in attributes.values() if a.is_hash_key]
    keys += [{"AttributeName": a.attr_name, "KeyType": "RANGE"} for a in attributes.values() if a.is_range_key]
    return keys


def test_one_table_per_model_with_the_names_the_app_uses(fragment: dict[str, Any], models: list[Any]) -> None:
    from chalicelib.settings import get_settings

    assert models, "no PynamoDB models found"
    tables = tables_by_name(fragment)
    expected = {get_settings().table_name(m.Meta.aggregate) for m in models}
    assert set(tables) == expected
    assert {m.Meta.table_name for m in models} == expected  # what the app binds at import
    assert all(name.startswith("keyport-test-") for name in tables)


def test_keys_and_indexes_follow_the_models(fragment: dict[str, Any], models: list[Any]) -> None:
    tables = tables_by_name(fragment)
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
            model_indexes = indexes_of(model, kind)
            assert set(indexes) == {i.Meta.index_name for i in model_indexes}, model.__name__
            for index in model_indexes:
                generated = indexes[index.Meta.index_name]
                assert generated["KeySchema"] == _keys(index.Meta.attributes), index.Meta.index_name
                assert generated["Projection"]["ProjectionType"] == index.Meta.projection.projection_type
                declared.update({a.attr_name: _type_of(a) for a in index.Meta.attributes.values()})
        # Exactly the key attributes of the table and its indexes, each with its DynamoDB type.
        assert definitions == declared, model.__name__


def test_tables_are_on_demand_recoverable_and_encrypted(fragment: dict[str, Any]) -> None:
    for table in tables_by_name(fragment).values():
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert properties["SSESpecification"] == {
            "SSEEnabled": True,
            "SSEType": "KMS",
            "KMSMasterKeyId": {"Fn::GetAtt": [template.KEY, "Arn"]},
        }


def test_ttl_where_models_declare_it(fragment: dict[str, Any], models: list[Any]) -> None:
    tables = tables_by_name(fragment)
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
