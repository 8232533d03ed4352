"""Client-supplied idempotency keys on create routes: a retried create never makes a second resource.

A create sent with an ``Idempotency-Key`` header (1 to 255 printable ASCII characters) claims a record
for (caller, method, path, key) with a conditional write before it runs, as the IETF
``Idempotency-Key`` draft and Powertools' idempotency utility describe it:

- first use: the create runs; a 2xx answer is stored (sealed, as it may show a secret once) and kept
  ``IDEMPOTENCY_TTL_SECONDS``; a 4xx answer (nothing was written) frees the key; a 5xx answer leaves
  the outcome unknown, so the key stays in progress until the request's deadline has long passed;
- the same key again, same request: the stored answer is replayed (``Idempotent-Replayed: true``);
  while the first is still in progress: 409 with ``Retry-After``;
- the same key with another method, path or body: 422.

The caller is part of the record's id (a keyed hash of their credentials), so one caller can never
replay another's answer. Only the create routes the services declare (``creates`` in
``chalicelib/<service>/declaration.py``) take part; everything else ignores the header. Nothing here
is imported unless a request carries the header.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalice.app import Request, Response

from chalicelib.errors import BadRequest, Conflict, Unprocessable

log = logging.getLogger("keyport")

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
#: How long after its deadline a first request whose outcome is unknown (5xx) still holds its key.
SETTLE_SECONDS = 60
_PURPOSE = "idempotency/response"
_REPLAYED_HEADERS = ("content-type", "location", "cache-control")
_CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-github-token")


class InvalidKey(BadRequest):
    code = "invalid_idempotency_key"
    default_message = f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."


class KeyInProgress(Conflict):
    code = "idempotency_key_in_progress"
    default_message = "A request with this Idempotency-Key is still in progress; retry later."


class KeyReused(Unprocessable):
    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was used with a different request; use a new key for a new request."


def applies(request: Request) -> bool:
    """Whether ``request`` is a create carrying an ``Idempotency-Key``."""
    if request.method != "POST" or HEADER not in request.headers:
        return False
    from chalicelib.services import create_routes  # already loaded by app.py: no cold-start cost

    return request.context.get("resourcePath") in create_routes()


def run(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """Run a create once per key: claim the key, run it, store or forget its answer; or replay the stored one."""
    key = request.headers[HEADER]
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
        raise InvalidKey()
    caller = _caller(request)
    if caller is None:
        return get_response(request)  # no credentials: the route refuses it, and there is no one to scope to
    path = request.to_original_event().get("path") or request.path
    record_id = _record_id(caller, request.method, path, key)
    from chalicelib.http import raw_body

    body = raw_body(request) if request.raw_body else b""
    request_hash = _request_hash(request.method, path, body)
    stored = _claim(record_id, request_hash)
    if stored is not None:
        return _replay(stored, record_id, request_hash)
    try:
        response = get_response(request)
    except BaseException as e:
        status = getattr(e, "status", 500)
        _finish(record_id, None if status >= 500 else "forget")
        raise
    if 200 <= response.status_code < 300:
        _finish(record_id, response)
    else:
        _finish(record_id, None if response.status_code >= 500 else "forget")
    return response


def _caller(request: Request) -> str | None:
    headers = request.headers
    parts = [f"{name}={headers[name]}" for name in _CREDENTIAL_HEADERS if name in headers]
    sid = _cookie(headers.get("cookie", ""), "sid")
    if sid:
        parts.append(f"sid={sid}")
    return "\n".join(parts) or None


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        found, _, value = part.strip().partition("=")
        if found == name:
            return value
    return None


def _request_hash(method: str, path: str, body: bytes) -> str:
    """A keyed hash of the request: bodies may hold passwords, which a plain hash would expose to guessing."""
    from chalicelib.secret_keys import hash_key

    return hmac.new(hash_key(), b"\n".join([method.encode(), path.encode(), body]), hashlib.sha256).hexdigest()


def _record_id(caller: str, method: str, path: str, key: str) -> str:
    from chalicelib.crypto import keyed_hash

    return keyed_hash(f"{caller}\n{method}\n{path}\n{key}", "idempotency")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _claim(record_id: str, request_hash: str) -> Any:
    """Claim the key (None), or the record that holds it."""
    from pynamodb.exceptions import DoesNotExist, PutError

    from chalicelib import deadline
    from chalicelib.dynamo import is_conditional_failure, translated
    from chalicelib.idempotency.models import IdempotencyRecord as Record
    from chalicelib.settings import get_settings

    for _ in range(2):
        now = _now_ms()
        left = deadline.remaining()
        running_ms = int(((left if left is not None else 30.0) + SETTLE_SECONDS) * 1000)
        expires_at = now + get_settings().idempotency_ttl_seconds * 1000
        record = Record(
            record_id,
            status="in_progress",
            request_hash=request_hash,
            in_progress_until=now + running_ms,
            created_at=now,
            expires_at=expires_at,
            ttl=datetime.fromtimestamp(expires_at / 1000, tz=UTC),
        )
        free = (
            Record.id.does_not_exist()
            | (Record.expires_at < now)
            | ((Record.status == "in_progress") & (Record.in_progress_until < now))
        )
        try:
            with translated():
                record.save(condition=free)
            return None
        except PutError as e:
            if not is_conditional_failure(e):
                raise
        with translated():
            try:
                return Record.get(record_id, consistent_read=True)
            except DoesNotExist:
                pass  # freed between the two calls: claim it again
    raise KeyInProgress()


def _replay(record: Any, record_id: str, request_hash: str) -> Response:
    from chalicelib.crypto import open_json

    if record.request_hash != request_hash:
        raise KeyReused()
    if record.status != "completed" or record.response is None:
        wait = max(1, int((int(record.in_progress_until or 0) - _now_ms()) / 1000) + 1)
        raise KeyInProgress(headers={"Retry-After": str(wait)})
    answer = open_json(record.response, purpose=_PURPOSE, record=record_id)
    headers = {**answer["headers"], REPLAYED_HEADER: "true"}
    return Response(body=answer["body"], status_code=int(answer["status"]), headers=headers)


def _finish(record_id: str, outcome: Response | str | None) -> None:
    """Store a 2xx answer, or free the key ("forget"); None (unknown outcome) keeps it in progress.

    Best effort: the create's own answer stands whatever happens here (nothing after a commit may turn
    a success into a failure); a record that could not be finished stays in progress until it lapses.
    """
    if outcome is None:
        return
    from chalicelib.idempotency.models import IdempotencyRecord as Record

    try:
        if outcome == "forget":
            Record(record_id).delete(condition=Record.status == "in_progress")
            return
        assert isinstance(outcome, Response)
        from chalicelib.crypto import seal_json

        body = outcome.body
        if isinstance(body, bytes):
            body = body.decode()
        elif not isinstance(body, str):
            import json

            body = json.dumps(body, separators=(",", ":"))
        headers = {k: str(v) for k, v in outcome.headers.items() if k.lower() in _REPLAYED_HEADERS}
        answer = {"status": outcome.status_code, "headers": headers, "body": body}
        sealed = seal_json(answer, purpose=_PURPOSE, record=record_id)
        Record(record_id).update(
            actions=[Record.status.set("completed"), Record.response.set(sealed), Record.in_progress_until.remove()],
            condition=Record.status == "in_progress",
        )
    except Exception as e:  # logged without the answer: it may hold a secret shown once
        log.warning("idempotency record %s could not be finished: %s", record_id[:12], type(e).__name__)
