"""A private bucket served over HTTP, as CloudFront with origin access control serves it on AWS.

The publishing bucket is private (locally too): nobody reads it anonymously. On AWS a CloudFront
distribution reads it with its own signed identity (origin access control) and serves
``https://<distribution>/<key>``; ``PREVIEW_BASE_URL`` and ``PUBLISH_BASE_URL`` point at it. Locally
:class:`BucketSite` plays that part on its own port (a separate origin, as a CloudFront domain is
separate from the API's): ``GET``/``HEAD http://127.0.0.1:<port>/<key>`` reads the object with the
emulator's credentials. A path ending in ``/`` serves its ``index.html`` (previews and published
sites are folders). A missing object is 403 ``AccessDenied``, as S3 answers an origin that may read
objects but not list the bucket; any other method is 403 too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from botocore.exceptions import ClientError

__all__ = ["BucketSite"]

log = logging.getLogger(__name__)

_ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'
)
_PASSED_HEADERS = {
    "ContentType": "Content-Type",
    "CacheControl": "Cache-Control",
    "ContentEncoding": "Content-Encoding",
    "ETag": "ETag",
}


class BucketSite:
    """Serves the objects of ``bucket`` on ``host:port`` (0 = a free port) through ``s3`` (a botocore client)."""

    def __init__(self, bucket: str, s3: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.bucket = bucket
        self.s3 = s3
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen; ``port`` then holds the real port."""
        application = web.Application()
        application.router.add_route("*", r"/{key:[\s\S]*}", self._handle)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        for address in self._runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self.port = int(address[1])
                break

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return _denied()
        key = unquote(request.rel_url.raw_path).lstrip("/")
        if key == "" or key.endswith("/"):
            key += "index.html"
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(None, self._read, key, request.method == "HEAD")
        if found is None:
            return _denied()
        body, metadata = found
        headers = {name: str(metadata[field]) for field, name in _PASSED_HEADERS.items() if metadata.get(field)}
        if request.method == "HEAD":
            headers["Content-Length"] = str(metadata.get("ContentLength", 0))
            return web.Response(status=200, headers=headers)
        return web.Response(status=200, body=body, headers=headers)

    def _read(self, key: str, head_only: bool) -> tuple[bytes, dict[str, Any]] | None:
        try:
            if head_only:
                return b"", self.s3.head_object(Bucket=self.bucket, Key=key)
            found = self.s3.get_object(Bucket=self.bucket, Key=key)
            return found["Body"].read(), found
        except ClientError as e:
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status not in (403, 404):
                log.warning("reading s3://%s/%s failed: %s", self.bucket, key, type(e).__name__)
            return None


def _denied() -> web.Response:
    return web.Response(status=403, body=_ACCESS_DENIED, headers={"Content-Type": "application/xml"})
