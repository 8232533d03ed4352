"""The server's keys read from Secrets Manager (as deployed): operator routes, rotation, hash key, caching."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.moto_stack import integrations_aws

OLD, NEW = "operator-key-old-0123456789abcdef", "operator-key-new-0123456789abcdef"


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto with the integrations tables and two secrets; the environment names only their ARNs."""
    from chalicelib import aws, secret_keys
    from chalicelib.settings import clear_settings

    for plain in ("SECRET_KEY", "SECRET_KEY_PREVIOUS", "PUBLISHABLE_KEY", "HASH_KEY"):
        monkeypatch.delenv(plain, raising=False)
    with integrations_aws():
        manager = aws.client("secretsmanager")
        operator = manager.create_secret(Name="operator", SecretString=json.dumps({"current": OLD, "previous": ""}))
        hashing = manager.create_secret(Name="hash", SecretString="hash-key-" + "x" * 55)
        monkeypatch.setenv("OPERATOR_SECRET_ARN", operator["ARN"])
        monkeypatch.setenv("HASH_KEY_SECRET_ARN", hashing["ARN"])
        clear_settings()
        secret_keys.forget()
        reads: list[str] = []
        manager.meta.events.register(
            "provide-client-params.secrets-manager.GetSecretValue", lambda params, **_: reads.append(params["SecretId"])
        )
        yield {"manager": manager, "operator": operator["ARN"], "hash": hashing["ARN"], "reads": reads}
        secret_keys.forget()
    clear_settings()


@pytest.fixture
def api(deployed: dict[str, Any]) -> Iterator[Any]:
    from chalice.test import Client

    from app import app
    from chalicelib.settings import get_settings

    get_settings()  # read with the ARNs, before the test client patches in the dev stage's variables
    with Client(app) as client:
        yield client


def _status(api: Any, key: str) -> int:
    return int(api.http.get("/api/github/configurations", headers=_basic(key)).status_code)


def test_the_operator_key_in_the_secret_opens_operator_routes(api: Any, deployed: dict[str, Any]) -> None:
    assert _status(api, OLD) == 200
    refused = api.http.get("/api/github/configurations", headers=_basic("not-the-key-0123456789"))
    assert refused.status_code == 401
    assert json.loads(refused.body)["error"]["type"] == "invalid_secret_key"


def test_the_secret_is_read_once_then_cached(api: Any, deployed: dict[str, Any]) -> None:
    for _ in range(3):
        assert _status(api, OLD) == 200
    assert deployed["reads"] == [deployed["operator"]]


def test_rotation_keeps_both_keys_valid_until_the_previous_one_is_dropped(
    api: Any, deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.settings import clear_settings, get_settings

    monkeypatch.setenv("SECRETS_MAX_AGE_SECONDS", "0")  # every request re-reads: the rotation shows at once
    clear_settings()
    get_settings()
    manager, arn = deployed["manager"], deployed["operator"]
    assert (_status(api, OLD), _status(api, NEW)) == (200, 401)
    manager.put_secret_value(SecretId=arn, SecretString=json.dumps({"current": NEW, "previous": OLD}))
    assert (_status(api, OLD), _status(api, NEW)) == (200, 200)
    manager.put_secret_value(SecretId=arn, SecretString=json.dumps({"current": NEW, "previous": ""}))
    assert (_status(api, OLD), _status(api, NEW)) == (401, 200)


def test_a_warm_function_sees_a_rotation_once_its_copy_is_older_than_the_max_age(
    api: Any, deployed: dict[str, Any]
) -> None:
    from chalicelib import secret_keys

    assert _status(api, OLD) == 200
    deployed["manager"].put_secret_value(
        SecretId=deployed["operator"], SecretString=json.dumps({"current": NEW, "previous": OLD})
    )
    assert _status(api, NEW) == 401  # still the copy read at cold start
    read_at, value = secret_keys._cache[deployed["operator"]]
    secret_keys._cache[deployed["operator"]] = (read_at - 301, value)  # five minutes later
    assert (_status(api, NEW), _status(api, OLD)) == (200, 200)


def test_unreadable_keys_close_operator_routes_with_a_503_in_the_services_body(
    api: Any, deployed: dict[str, Any]
) -> None:
    deployed["manager"].delete_secret(SecretId=deployed["operator"], ForceDeleteWithoutRecovery=True)
    response = api.http.get("/api/github/configurations", headers=_basic(OLD))
    assert response.status_code == 503
    body = json.loads(response.body)
    assert set(body) == {"error"} and OLD not in response.body.decode()


def test_a_copy_already_read_outlives_an_outage(api: Any, deployed: dict[str, Any]) -> None:
    from chalicelib import secret_keys

    assert _status(api, OLD) == 200
    deployed["manager"].delete_secret(SecretId=deployed["operator"], ForceDeleteWithoutRecovery=True)
    read_at, value = secret_keys._cache[deployed["operator"]]
    secret_keys._cache[deployed["operator"]] = (read_at - 301, value)
    assert _status(api, OLD) == 200


def test_the_hash_key_is_its_own_secret(deployed: dict[str, Any]) -> None:
    from chalicelib.crypto import keyed_hash

    before = keyed_hash("ghp_token", "github-token")
    deployed["manager"].put_secret_value(
        SecretId=deployed["operator"], SecretString=json.dumps({"current": NEW, "previous": ""})
    )
    from chalicelib import secret_keys

    secret_keys.forget()
    assert keyed_hash("ghp_token", "github-token") == before  # rotating the operator key changes no hash
    deployed["manager"].put_secret_value(SecretId=deployed["hash"], SecretString="another-hash-key-" + "y" * 47)
    secret_keys.forget()
    assert keyed_hash("ghp_token", "github-token") != before


def test_the_publishable_key_comes_from_the_operator_secret(deployed: dict[str, Any]) -> None:
    from chalicelib import secret_keys

    assert secret_keys.publishable_key() is None
    deployed["manager"].put_secret_value(
        SecretId=deployed["operator"],
        SecretString=json.dumps({"current": OLD, "previous": "", "publishable": "pk_live_123"}),
    )
    secret_keys.forget()
    assert secret_keys.publishable_key() == "pk_live_123"
    assert secret_keys.operator_keys() == (OLD,)


def test_plain_variables_still_configure_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import secret_keys
    from chalicelib.settings import clear_settings

    monkeypatch.delenv("OPERATOR_SECRET_ARN", raising=False)
    monkeypatch.setenv("SECRET_KEY", NEW)
    monkeypatch.setenv("SECRET_KEY_PREVIOUS", OLD)
    clear_settings()
    try:
        assert secret_keys.operator_keys() == (NEW, OLD)
    finally:
        clear_settings()
