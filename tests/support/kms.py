"""A KMS that cannot be reached, injected through ``chalicelib.aws.inject`` (no patching)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import EndpointConnectionError


class UnreachableKms:
    """A KMS client whose endpoint cannot be reached, as botocore reports it; records the calls it refused.

    With ``decrypt_works``, Decrypt goes to the real client: data keys already stored still open,
    but no new data key can be made (sealing fails).
    """

    def __init__(self, real: Any = None, *, decrypt_works: bool = False) -> None:
        self.real = real
        self.decrypt_works = decrypt_works
        self.refused: list[str] = []

    def _fail(self, operation: str) -> None:
        self.refused.append(operation)
        raise EndpointConnectionError(endpoint_url="https://kms.us-east-1.amazonaws.com/")

    def generate_data_key(self, **kwargs: Any) -> Any:
        self._fail("generate_data_key")

    def decrypt(self, **kwargs: Any) -> Any:
        if self.decrypt_works:
            return self.real.decrypt(**kwargs)
        self._fail("decrypt")


@contextmanager
def kms_unreachable(*, decrypt_works: bool = False, cold: bool = True) -> Iterator[UnreachableKms]:
    """KMS unreachable inside the block; ``cold`` also empties the key cache so it cannot hide the outage.

    The real client is injected back afterwards and the cache emptied again.
    """
    from chalicelib import aws, crypto

    real = aws.client("kms")
    down = UnreachableKms(real, decrypt_works=decrypt_works)
    aws.inject("kms", down)
    if cold:
        crypto.keyring.clear()
    try:
        yield down
    finally:
        aws.inject("kms", real)
        crypto.keyring.clear()
