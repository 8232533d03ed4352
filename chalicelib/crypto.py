"""Envelope encryption with KMS data keys, key hashing and password hashing.

A sealed value is ``b"KP1" | len(wrapped key) (2 bytes) | wrapped key | nonce (12) | AES-256-GCM
ciphertext and tag``. The data key comes from KMS ``GenerateDataKey`` under an encryption context
naming the service and purpose; the record's key is the AES-GCM associated data, so a ciphertext
copied to another record (or another purpose) fails to open instead of yielding its secret there.

Data keys are reused for a bounded age and number of messages, and unwrapped keys are cached by
their wrapped form, so a warm process seals and opens without calling KMS.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import struct
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from chalicelib import aws
from chalicelib.errors import IntegrityError, ServiceUnavailable
from chalicelib.settings import get_settings

MAGIC = b"KP1"
NONCE_BYTES = 12
_DECRYPT_CACHE_SIZE = 2048
_DECRYPT_CACHE_AGE = 3600.0

# KMS error codes that mean "this ciphertext does not open here" rather than "KMS is unwell".
_INTEGRITY_CODES = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


@dataclass
class _DataKey:
    plaintext: bytes
    wrapped: bytes
    created: float
    uses: int = 0


class KeyRing:
    """Seals and opens values with KMS data keys, caching keys per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: dict[str, _DataKey] = {}
        self._unwrapped: OrderedDict[tuple[bytes, str], tuple[bytes, float]] = OrderedDict()
        self.kms_calls = 0

    def clear(self) -> None:
        """Forget every cached key."""
        with self._lock:
            self._current.clear()
            self._unwrapped.clear()

    # -- public API -----------------------------------------------------------------------------

    def seal(self, plaintext: bytes, *, purpose: str, record: str) -> bytes:
        """Encrypt ``plaintext`` for the record named ``record`` of kind ``purpose``."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = self._data_key(purpose)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(key.plaintext).encrypt(nonce, plaintext, _aad(purpose, record))
        return MAGIC + struct.pack(">H", len(key.wrapped)) + key.wrapped + nonce + ciphertext

    def open(self, sealed: bytes, *, purpose: str, record: str) -> bytes:
        """Decrypt a value sealed for this exact record and purpose, or raise :class:`IntegrityError`."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        wrapped, nonce, ciphertext = _split(sealed)
        key = self._unwrap(wrapped, purpose)
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, _aad(purpose, record))
        except InvalidTag as e:
            raise IntegrityError() from e

    # -- data keys ------------------------------------------------------------------------------

    def _data_key(self, purpose: str) -> _DataKey:
        settings = get_settings()
        now = time.monotonic()
        with self._lock:
            key = self._current.get(purpose)
            if (
                key is not None
                and now - key.created < settings.data_key_max_age_seconds
                and key.uses < settings.data_key_max_uses
            ):
                key.uses += 1
                return key
        response = self._kms(
            "generate_data_key",
            KeyId=settings.kms_key_id,
            KeySpec="AES_256",
            EncryptionContext=_context(purpose),
        )
        key = _DataKey(response["Plaintext"], response["CiphertextBlob"], now, 1)
        with self._lock:
            self._current[purpose] = key
            self._remember(key.wrapped, purpose, key.plaintext)
        return key

    def _unwrap(self, wrapped: bytes, purpose: str) -> bytes:
        now = time.monotonic()
        with self._lock:
            hit = self._unwrapped.get((wrapped, purpose))
            if hit is not None and now - hit[1] < _DECRYPT_CACHE_AGE:
                self._unwrapped.move_to_end((wrapped, purpose))
                return hit[0]
        response = self._kms(
            "decrypt",
            CiphertextBlob=wrapped,
            EncryptionContext=_context(purpose),
            KeyId=get_settings().kms_key_id,
        )
        plaintext: bytes = response["Plaintext"]
        with self._lock:
            self._remember(wrapped, purpose, plaintext)
        return plaintext

    def _remember(self, wrapped: bytes, purpose: str, plaintext: bytes) -> None:
        self._unwrapped[(wrapped, purpose)] = (plaintext, time.monotonic())
        self._unwrapped.move_to_end((wrapped, purpose))
        while len(self._unwrapped) > _DECRYPT_CACHE_SIZE:
            self._unwrapped.popitem(last=False)

    def _kms(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        self.kms_calls += 1
        try:
            return getattr(aws.client("kms"), operation)(**kwargs)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in _INTEGRITY_CODES:
                raise IntegrityError() from e
            raise ServiceUnavailable("The key management service is unavailable; try again shortly.") from e
        except BotoCoreError as e:
            raise ServiceUnavailable("The key management service is unavailable; try again shortly.") from e


def _context(purpose: str) -> dict[str, str]:
    service, _, kind = purpose.partition("/")
    return {"app": "keyport", "service": service, "purpose": kind or service}


def _aad(purpose: str, record: str) -> bytes:
    return f"keyport|{purpose}|{record}".encode()


def _split(sealed: bytes) -> tuple[bytes, bytes, bytes]:
    if not isinstance(sealed, bytes | bytearray) or len(sealed) < len(MAGIC) + 2 or not sealed.startswith(MAGIC):
        raise IntegrityError()
    (length,) = struct.unpack(">H", sealed[len(MAGIC) : len(MAGIC) + 2])
    start = len(MAGIC) + 2
    wrapped = bytes(sealed[start : start + length])
    nonce = bytes(sealed[start + length : start + length + NONCE_BYTES])
    ciphertext = bytes(sealed[start + length + NONCE_BYTES :])
    if len(wrapped) != length or len(nonce) != NONCE_BYTES or len(ciphertext) < 16:
        raise IntegrityError()
    return wrapped, nonce, ciphertext


keyring = KeyRing()


def seal_json(value: Any, *, purpose: str, record: str) -> bytes:
    """Seal a JSON-serialisable value."""
    return keyring.seal(json.dumps(value, separators=(",", ":")).encode(), purpose=purpose, record=record)


def open_json(sealed: bytes, *, purpose: str, record: str) -> Any:
    """Open a value sealed by :func:`seal_json`."""
    return json.loads(keyring.open(sealed, purpose=purpose, record=record))


# --- keys we issue, and passwords ----------------------------------------------------------------


def new_key(prefix: str = "", nbytes: int = 32) -> str:
    """A random, URL-safe key to show once and store only as a hash."""
    return prefix + secrets.token_urlsafe(nbytes)


def key_hash(value: str) -> str:
    """The lookup hash of a high-entropy key (SHA-256, hex)."""
    return hashlib.sha256(value.encode()).hexdigest()


def keyed_hash(value: str, purpose: str) -> str:
    """HMAC-SHA256 of a secret we did not issue (a GitHub token), keyed by the server's hash key."""
    from chalicelib.secret_keys import hash_key

    message = f"{purpose}|{value}".encode()
    return hmac.new(hash_key(), message, hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time string comparison."""
    return hmac.compare_digest(a.encode(), b.encode())


_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """An scrypt hash of ``password`` with a random salt, self-describing."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password`."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)
