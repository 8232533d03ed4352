"""Creates what Keyport needs in an AWS emulator: tables, the KMS key and its alias, buckets."""

from __future__ import annotations

from typing import Any

from chalicelib import aws
from chalicelib.settings import get_settings


def create_tables() -> list[str]:
    """Create every Keyport table that does not exist yet (with its indexes and TTL); their names."""
    names = []
    for model in aws.all_models():
        if not model.exists():
            model.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
        ttl = getattr(model.Meta, "ttl_attribute", None)
        if ttl:
            aws.client("dynamodb").update_time_to_live(
                TableName=model.Meta.table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl}
            )
        names.append(model.Meta.table_name)
    return names


def create_key() -> str:
    """Create the KMS key the settings name (by alias) unless it exists; its key id."""
    kms = aws.client("kms")
    alias = get_settings().kms_key_id
    if not alias.startswith("alias/"):
        return alias
    for page in _pages(kms, "list_aliases", "Aliases"):
        if page.get("AliasName") == alias and page.get("TargetKeyId"):
            return str(page["TargetKeyId"])
    key_id = str(kms.create_key(Description="Keyport local key", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"])
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    return key_id


def _pages(client: Any, operation: str, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator(operation).paginate():
        items.extend(page.get(key, []))
    return items


def create_buckets() -> list[str]:
    """Create the S3 buckets the settings name (publishing's builds) unless they exist; their names."""
    s3 = aws.client("s3")
    settings = get_settings()
    names = [settings.publish_bucket]
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for name in names:
        if name not in existing:
            location = {} if settings.region == "us-east-1" else {"LocationConstraint": settings.region}
            s3.create_bucket(Bucket=name, **({"CreateBucketConfiguration": location} if location else {}))
        # Private, as on AWS: no bucket policy, public access blocked. The local stack serves the builds
        # through infra/local/cdn.py with the emulator's credentials, as CloudFront does with origin access control.
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
    return names


def bootstrap() -> dict[str, Any]:
    """Everything, idempotently."""
    return {"tables": create_tables(), "key": create_key(), "buckets": create_buckets()}
