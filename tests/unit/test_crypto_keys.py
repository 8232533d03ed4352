"""Keys we issue, their hashes, and passwords."""

from __future__ import annotations

from chalicelib import crypto


def test_issued_keys_are_random_and_prefixed() -> None:
    keys = {crypto.new_key("kp_") for _ in range(100)}
    assert len(keys) == 100
    assert all(k.startswith("kp_") and len(k) > 40 for k in keys)


def test_key_hash_is_stable_and_does_not_contain_the_key() -> None:
    assert crypto.key_hash("abc") == crypto.key_hash("abc")
    assert crypto.key_hash("abc") != crypto.key_hash("abd")
    assert "abc" not in crypto.key_hash("abc")


def test_passwords_verify_only_with_the_right_password() -> None:
    stored = crypto.hash_password("correct horse")
    assert stored.startswith("scrypt$")
    assert "correct horse" not in stored
    assert crypto.verify_password("correct horse", stored)
    assert not crypto.verify_password("correct hors", stored)
    assert not crypto.verify_password("correct horse", "garbage")
    assert crypto.hash_password("correct horse") != stored
