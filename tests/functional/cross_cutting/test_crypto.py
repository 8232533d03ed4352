"""chalicelib.crypto: secrets at rest sealed per record with KMS data keys (moved or damaged ones never open,
KMS outages are 503), and the keys we issue, their hashes and passwords (these last need no AWS)."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from tests.support.kms import kms_unreachable
from tests.support.pizzly import PizzlyApi, raw_item, stored_authentication, stored_configuration

AUTH = "integrations/authentication"
CONFIG = "integrations/configuration"
SECRET_A = "gho_secret_of_record_a_0123456789"
SECRET_B = "gho_secret_of_record_b_9876543210"


@pytest.fixture
def aws_env(integrations_env: None) -> None:
    """Overrides the root fixture (which the root ``client`` fixture uses): the module's AWS, emptied."""


@pytest.fixture
def keyring() -> Any:
    from chalicelib import crypto

    return crypto.keyring


def setup_and_auth(api: PizzlyApi, secret: str = SECRET_A, integration: str = "github") -> tuple[str, str]:
    setup_id = api.configuration(integration)["id"]
    auth_id = api.authentication(integration, setup_id, {"accessToken": secret, "refreshToken": "r-" + secret})["id"]
    return setup_id, auth_id


def assert_opaque_error(answer: Any, *secrets: str) -> None:
    """An error in the Pizzly body that reveals none of ``secrets``: no payload, no garbage."""
    assert answer.status >= 500
    assert answer.error()[0] == "integrity_error"
    text = answer.raw.decode()
    assert "payload" not in answer.body
    for secret in secrets:
        assert secret not in text


# --- sealing and opening -------------------------------------------------------------------------------


def test_a_sealed_value_opens_to_what_was_sealed(aws_env: None) -> None:
    from chalicelib.crypto import keyring, open_json, seal_json

    value = {"accessToken": SECRET_A, "nested": {"n": 1, "list": ["é", None]}}

    sealed = seal_json(value, purpose=AUTH, record="auth-1")

    assert sealed.startswith(b"KP1")
    assert SECRET_A.encode() not in sealed
    assert open_json(sealed, purpose=AUTH, record="auth-1") == value
    assert keyring.open(keyring.seal(b"\x00\xffbytes", purpose=AUTH, record="r"), purpose=AUTH, record="r") == (
        b"\x00\xffbytes"
    )


def test_sealing_the_same_value_twice_gives_different_ciphertexts(aws_env: None) -> None:
    from chalicelib.crypto import seal_json

    first = seal_json({"accessToken": SECRET_A}, purpose=AUTH, record="auth-1")
    second = seal_json({"accessToken": SECRET_A}, purpose=AUTH, record="auth-1")

    assert first != second


def test_a_sealed_value_opens_after_the_key_cache_is_cleared(aws_env: None, keyring: Any) -> None:
    from chalicelib.crypto import open_json, seal_json

    sealed = seal_json({"accessToken": SECRET_A}, purpose=AUTH, record="auth-1")
    keyring.clear()
    calls = keyring.kms_calls

    assert open_json(sealed, purpose=AUTH, record="auth-1") == {"accessToken": SECRET_A}
    assert keyring.kms_calls == calls + 1


@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
def test_a_sealed_value_does_not_open_for_another_record(aws_env: None, keyring: Any, cold: bool) -> None:
    from chalicelib.crypto import open_json, seal_json
    from chalicelib.errors import IntegrityError

    sealed = seal_json({"accessToken": SECRET_A}, purpose=AUTH, record="auth-1")
    if cold:
        keyring.clear()

    with pytest.raises(IntegrityError):
        open_json(sealed, purpose=AUTH, record="auth-2")


@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
def test_a_sealed_value_does_not_open_for_another_purpose(aws_env: None, keyring: Any, cold: bool) -> None:
    from chalicelib.crypto import open_json, seal_json
    from chalicelib.errors import IntegrityError

    sealed = seal_json({"clientSecret": SECRET_A}, purpose=CONFIG, record="same-id")
    if cold:
        keyring.clear()

    with pytest.raises(IntegrityError):
        open_json(sealed, purpose=AUTH, record="same-id")


def _positions(sealed: bytes) -> dict[str, int]:
    (wrapped,) = struct.unpack(">H", sealed[3:5])
    start = 5 + wrapped
    return {
        "magic": 0,
        "length": 4,
        "wrapped-key-tail": start - 1,
        "nonce": start,
        "ciphertext": start + 12,
        "tag": len(sealed) - 1,
    }


@pytest.mark.parametrize("part", ["magic", "length", "wrapped-key-tail", "nonce", "ciphertext", "tag"])
@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
def test_a_flipped_byte_anywhere_fails_with_integrity_error(aws_env: None, keyring: Any, part: str, cold: bool) -> None:
    from chalicelib.crypto import open_json, seal_json
    from chalicelib.errors import IntegrityError

    sealed = seal_json({"accessToken": SECRET_A}, purpose=AUTH, record="auth-1")
    damaged = bytearray(sealed)
    damaged[_positions(sealed)[part]] ^= 0x01
    if cold:
        keyring.clear()

    with pytest.raises(IntegrityError):
        open_json(bytes(damaged), purpose=AUTH, record="auth-1")


@pytest.mark.parametrize("value", [b"", b"KP1", b"KP1\x00\x10short", b"plain text", b"KP1" + b"\x00" * 40])
def test_truncated_or_foreign_bytes_fail_with_integrity_error(aws_env: None, value: bytes) -> None:
    from chalicelib.crypto import keyring
    from chalicelib.errors import IntegrityError

    with pytest.raises(IntegrityError):
        keyring.open(value, purpose=AUTH, record="auth-1")


# --- through the API -----------------------------------------------------------------------------------


def test_a_payload_copied_to_another_authentication_is_an_error_never_the_other_secret(
    api: PizzlyApi, keyring: Any
) -> None:
    from chalicelib.integrations.models import Authentication

    _, auth_a = setup_and_auth(api, SECRET_A)
    _, auth_b = setup_and_auth(api, SECRET_B)
    a_bytes = bytes(stored_authentication(auth_a).payload)
    Authentication(auth_b).update(actions=[Authentication.payload.set(a_bytes)])

    for cold in (False, True):
        if cold:
            keyring.clear()
        answer = api.get(f"/api/github/authentications/{auth_b}")
        assert answer.status == 500
        assert_opaque_error(answer, SECRET_A, SECRET_B, "r-" + SECRET_A)

    listed = api.get("/api/github/authentications")
    assert listed.status == 500
    assert SECRET_A not in listed.raw.decode()
    assert api.get(f"/api/github/authentications/{auth_a}").body["payload"]["accessToken"] == SECRET_A


def test_a_refresh_of_a_moved_payload_is_an_error_and_calls_no_provider(api: PizzlyApi) -> None:
    from chalicelib.integrations.models import Authentication

    _, auth_a = setup_and_auth(api, SECRET_A)
    _, auth_b = setup_and_auth(api, SECRET_B)
    Authentication(auth_b).update(actions=[Authentication.payload.set(bytes(stored_authentication(auth_a).payload))])

    answer = api.post(f"/api/github/authentications/{auth_b}/refresh")

    assert_opaque_error(answer, SECRET_A, SECRET_B)


def test_configuration_credentials_copied_into_an_authentication_never_open(api: PizzlyApi, keyring: Any) -> None:
    from chalicelib.integrations.models import Authentication

    setup_id, auth_id = setup_and_auth(api)
    credentials = bytes(stored_configuration(setup_id).credentials)
    Authentication(auth_id).update(actions=[Authentication.payload.set(credentials)])
    keyring.clear()

    answer = api.get(f"/api/github/authentications/{auth_id}")

    assert_opaque_error(answer, "client-secret-abcdefghij", SECRET_A)


def test_credentials_copied_to_another_configuration_never_open(api: PizzlyApi) -> None:
    from chalicelib.oauth.models import Configuration

    first = api.configuration("github", secret="first-client-secret-xyz")["id"]
    second = api.configuration("github", secret="second-client-secret-xyz")["id"]
    Configuration(second).update(
        actions=[Configuration.credentials.set(bytes(stored_configuration(first).credentials))]
    )

    answer = api.get(f"/api/github/configurations/{second}")

    assert_opaque_error(answer, "first-client-secret-xyz", "firs****")


@pytest.mark.parametrize("part", ["nonce", "ciphertext", "tag"])
def test_a_stored_payload_with_a_flipped_byte_is_an_error(api: PizzlyApi, part: str) -> None:
    from chalicelib.integrations.models import Authentication

    _, auth_id = setup_and_auth(api)
    sealed = bytes(stored_authentication(auth_id).payload)
    damaged = bytearray(sealed)
    damaged[_positions(sealed)[part]] ^= 0x80
    Authentication(auth_id).update(actions=[Authentication.payload.set(bytes(damaged))])

    answer = api.get(f"/api/github/authentications/{auth_id}")

    assert_opaque_error(answer, SECRET_A)


# --- KMS unavailable ----------------------------------------------------------------------------------


def test_registering_a_configuration_while_kms_is_unreachable_is_503_and_writes_nothing(api: PizzlyApi) -> None:
    from chalicelib.oauth.models import Configuration

    with kms_unreachable() as kms_down:
        answer = api.post(
            "/api/github/configurations", {"credentials": {"clientId": "client-id-0123", "clientSecret": SECRET_A}}
        )

    assert answer.status == 503
    kind, message = answer.error()
    assert kind == "service_unavailable"
    assert "key management" in message
    assert SECRET_A not in answer.raw.decode()
    assert kms_down.refused == ["generate_data_key"]
    assert Configuration.count() == 0


def test_importing_an_authentication_while_kms_is_unreachable_is_503_and_writes_nothing(api: PizzlyApi) -> None:
    from chalicelib.integrations.models import Authentication

    setup_id = api.configuration("github")["id"]
    with kms_unreachable():
        answer = api.post("/api/github/authentications", {"setup_id": setup_id, "payload": {"accessToken": SECRET_A}})

    assert answer.status == 503
    assert answer.error()[0] == "service_unavailable"
    assert Authentication.count() == 0


def test_replacing_a_payload_while_kms_is_unreachable_is_503_and_keeps_the_stored_one(api: PizzlyApi) -> None:
    _, auth_id = setup_and_auth(api)
    before = raw_item("authentications", auth_id)
    with kms_unreachable():
        replaced = api.put(f"/api/github/authentications/{auth_id}", {"payload": {"accessToken": SECRET_B}})
        read = api.get(f"/api/github/authentications/{auth_id}")

    assert (replaced.status, read.status) == (503, 503)
    assert replaced.error()[0] == read.error()[0] == "service_unavailable"
    assert raw_item("authentications", auth_id) == before
    assert api.get(f"/api/github/authentications/{auth_id}").body["payload"]["accessToken"] == SECRET_A


def test_a_missing_kms_key_is_503_and_nothing_is_written(api: PizzlyApi, keyring: Any) -> None:
    from chalicelib import aws
    from chalicelib.oauth.models import Configuration
    from chalicelib.settings import get_settings

    kms = aws.client("kms")
    alias = get_settings().kms_key_id
    key_id = kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
    kms.delete_alias(AliasName=alias)
    keyring.clear()
    try:
        answer = api.post(
            "/api/github/configurations", {"credentials": {"clientId": "client-id-0123", "clientSecret": SECRET_A}}
        )
    finally:
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)

    assert answer.status == 503
    assert answer.error()[0] == "service_unavailable"
    assert Configuration.count() == 0


def test_a_refresh_while_kms_is_unreachable_is_503_and_leaves_no_lease_behind(api: PizzlyApi) -> None:
    _, auth_id = setup_and_auth(api)
    with kms_unreachable():
        answer = api.post(f"/api/github/authentications/{auth_id}/refresh")

    assert answer.status == 503
    assert answer.error()[0] == "service_unavailable"
    item = stored_authentication(auth_id)
    assert item.lease_id is None and item.lease_until is None


# --- caching -----------------------------------------------------------------------------------------------


def test_a_warm_second_get_of_an_authentication_makes_no_kms_call(api: PizzlyApi, keyring: Any) -> None:
    _, auth_id = setup_and_auth(api)
    keyring.clear()

    before_cold = keyring.kms_calls
    cold = api.get(f"/api/github/authentications/{auth_id}")
    after_cold = keyring.kms_calls
    warm = api.get(f"/api/github/authentications/{auth_id}")

    assert cold.status == warm.status == 200
    assert cold.body == warm.body
    assert after_cold == before_cold + 1  # one Decrypt of the data key
    assert keyring.kms_calls == after_cold


def test_a_warm_get_works_even_while_kms_is_unreachable(api: PizzlyApi) -> None:
    _, auth_id = setup_and_auth(api)
    with kms_unreachable(cold=False) as down:
        answer = api.get(f"/api/github/authentications/{auth_id}")

    assert answer.status == 200
    assert answer.body["payload"]["accessToken"] == SECRET_A
    assert down.refused == []


def test_many_records_are_sealed_with_one_data_key_request(api: PizzlyApi, keyring: Any) -> None:
    keyring.clear()
    before = keyring.kms_calls

    ids = [api.configuration("github", secret=f"client-secret-number-{i}")["id"] for i in range(5)]

    assert keyring.kms_calls == before + 1  # one GenerateDataKey for the configuration purpose
    wrapped = {bytes(stored_configuration(i).credentials)[5:101] for i in ids}
    assert len(wrapped) == 1


# --- keys we issue, their hashes, and passwords ----------------------------------------------------------


def test_issued_keys_are_random_and_prefixed() -> None:
    from chalicelib import crypto

    keys = {crypto.new_key("kp_") for _ in range(100)}
    assert len(keys) == 100
    assert all(k.startswith("kp_") and len(k) > 40 for k in keys)


def test_key_hash_is_stable_and_does_not_contain_the_key() -> None:
    from chalicelib import crypto

    assert crypto.key_hash("abc") == crypto.key_hash("abc")
    assert crypto.key_hash("abc") != crypto.key_hash("abd")
    assert "abc" not in crypto.key_hash("abc")


def test_passwords_verify_only_with_the_right_password() -> None:
    from chalicelib import crypto

    stored = crypto.hash_password("correct horse")
    assert stored.startswith("scrypt$")
    assert "correct horse" not in stored
    assert crypto.verify_password("correct horse", stored)
    assert not crypto.verify_password("correct hors", stored)
    assert not crypto.verify_password("correct horse", "garbage")
    assert crypto.hash_password("correct horse") != stored
