"""Print files in an S3 bucket (AWS, MinIO, Ceph, …) so that every backend instance sees the same files.

Client: boto3, each call run in a worker thread (``asyncio.to_thread``). Why not aiobotocore: it pins a
narrow botocore range and pulls in aiohttp for what is, here, a handful of calls per upload or download
(parts of 8 MiB); boto3 is the reference client, and its threads cost nothing at that granularity.

URL: ``s3://bucket?endpoint=http://127.0.0.1:9000&region=us-east-1&prefix=printfiles/``; credentials come
from the usual AWS sources (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, profile, instance role) or
from ``access_key``/``secret_key`` in the query. With an ``endpoint``, path-style addressing is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

PART_BYTES = 8 << 20  # S3 wants parts of at least 5 MiB (except the last)
CHUNK_BYTES = 1 << 20
_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]{0,200}$")
_MISSING = {"404", "NoSuchKey", "NotFound"}


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Storage:
    """Objects in one bucket, written by streamed multipart upload, read with ranged GETs."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        prefix: str = "",
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        self.bucket, self.prefix = bucket, prefix
        config = Config(
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path"} if endpoint_url else None,
            max_pool_connections=32,
        )
        # A session per storage: boto3's default session is not safe to share between threads.
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )

    @classmethod
    def from_url(cls, url: str) -> S3Storage:
        """Build from ``s3://bucket?endpoint=…&region=…&prefix=…&access_key=…&secret_key=…``."""
        parts = urlsplit(url)
        if not parts.netloc:
            raise ValueError(f"S3 storage URL needs a bucket: {url!r}")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        return cls(
            parts.netloc,
            endpoint_url=query.get("endpoint"),
            region=query.get("region"),
            prefix=query.get("prefix", ""),
            access_key=query.get("access_key"),
            secret_key=query.get("secret_key"),
        )

    def _key(self, key: str) -> str:
        if not _SAFE_KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"unsafe storage key: {key!r}")
        return self.prefix + key

    async def _call(self, method: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self._client, method), Bucket=self.bucket, **kwargs)

    async def save(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Buffer up to one part, upload parts as they fill; small files are one PUT. All or nothing."""
        object_key = self._key(key)
        buffer = bytearray()
        written = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                buffer += chunk
                written += len(chunk)
                while len(buffer) >= PART_BYTES:
                    if upload_id is None:
                        created = await self._call("create_multipart_upload", Key=object_key)
                        upload_id = str(created["UploadId"])
                    body = bytes(buffer[:PART_BYTES])
                    del buffer[:PART_BYTES]
                    parts.append(await self._upload_part(object_key, upload_id, len(parts) + 1, body))
            if upload_id is None:
                await self._call("put_object", Key=object_key, Body=bytes(buffer))
                return written
            if buffer or not parts:
                parts.append(await self._upload_part(object_key, upload_id, len(parts) + 1, bytes(buffer)))
            await self._call(
                "complete_multipart_upload",
                Key=object_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
            upload_id = None
        finally:
            if upload_id is not None:
                # Failed or cancelled part-way: abort, so no parts are left billed and invisible.
                await asyncio.shield(self._abort(object_key, upload_id))
        return written

    async def _upload_part(self, object_key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        answer = await self._call(
            "upload_part", Key=object_key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    async def _abort(self, object_key: str, upload_id: str) -> None:
        with contextlib.suppress(ClientError, BotoCoreError):
            await self._call("abort_multipart_upload", Key=object_key, UploadId=upload_id)

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream ``start``..``end`` inclusive with one ranged GET, 1 MiB at a time."""
        byte_range = f"bytes={start}-{'' if end is None else end}"
        try:
            answer = await self._call("get_object", Key=self._key(key), Range=byte_range)
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                raise FileNotFoundError(key) from exc
            if _error_code(exc) == "InvalidRange":
                return  # starts past the end: nothing, as a local file would give
            raise
        body = answer["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK_BYTES):
                yield chunk
        finally:
            body.close()

    async def read_range(self, key: str, start: int, length: int) -> bytes:
        """Read at most ``length`` bytes from ``start``."""
        if length <= 0:
            return b""
        chunks = [chunk async for chunk in self.open_range(key, start, start + length - 1)]
        return b"".join(chunks)

    async def size(self, key: str) -> int:
        """``HEAD`` the object."""
        try:
            answer = await self._call("head_object", Key=self._key(key))
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                raise FileNotFoundError(key) from exc
            raise
        return int(answer["ContentLength"])

    async def delete(self, key: str) -> None:
        """``DELETE`` (S3 does not mind absent objects)."""
        await self._call("delete_object", Key=self._key(key))

    async def healthy(self) -> bool:
        """Whether the bucket answers ``HEAD``."""
        try:
            await self._call("head_bucket")
        except (ClientError, BotoCoreError):
            return False
        return True
