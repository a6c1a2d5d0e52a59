"""S3Storage against a real S3-compatible server: moto's standalone server (``moto_server``) on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from printerlynx.server.storage import create_storage
from printerlynx.server.storage.s3 import PART_BYTES, S3Storage
from tests.conftest import need
from tests.servers import free_port

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """Run ``moto_server`` in a subprocess; yields its endpoint URL."""
    executable = Path(sys.executable).with_name("moto_server")
    need("moto_server", executable.exists() or shutil.which("moto_server") is not None)
    port = free_port()
    process = subprocess.Popen(
        [str(executable) if executable.exists() else "moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **CREDENTIALS},
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(endpoint + "/moto-api/", timeout=1)
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto_server did not start")
            time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def make_bucket(endpoint: str) -> str:
    """A fresh bucket on the S3 server."""
    bucket = f"plx-{uuid.uuid4().hex[:12]}"
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """One moto server for this module."""
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture
def storage(s3_endpoint: str) -> S3Storage:
    """An S3Storage on a fresh bucket, built through the storage factory like the app does."""
    bucket = make_bucket(s3_endpoint)
    url = (
        f"s3://{bucket}?endpoint={s3_endpoint}&region=us-east-1&prefix=files/"
        "&access_key=testing&secret_key=testing"
    )
    built = create_storage(url, Path("/nonexistent"))
    assert isinstance(built, S3Storage)
    return built


async def _chunks(data: bytes, size: int = 1 << 20, fail_after: int | None = None) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        if fail_after is not None and offset >= fail_after:
            raise OSError("client went away")
        yield data[offset : offset + size]


def test_small_object_round_trip(storage: S3Storage) -> None:
    async def scenario() -> None:
        data = b"G28\nG1 X10 Y10\n" * 100
        assert await storage.save("a/one.gcode", _chunks(data, 7)) == len(data)
        assert await storage.size("a/one.gcode") == len(data)
        assert b"".join([c async for c in storage.open_range("a/one.gcode")]) == data
        assert b"".join([c async for c in storage.open_range("a/one.gcode", 4, 9)]) == data[4:10]
        assert await storage.read_range("a/one.gcode", 3, 5) == data[3:8]
        assert await storage.read_range("a/one.gcode", len(data) + 10, 5) == b""
        assert await storage.healthy()
        await storage.delete("a/one.gcode")
        await storage.delete("a/one.gcode")  # absent: not an error
        with pytest.raises(FileNotFoundError):
            await storage.size("a/one.gcode")
        with pytest.raises(FileNotFoundError):
            _ = [c async for c in storage.open_range("a/one.gcode")]
        with pytest.raises(ValueError):
            await storage.size("../etc/passwd")
        assert await storage.save("empty", _chunks(b"")) == 0
        assert await storage.size("empty") == 0

    asyncio.run(scenario())


def test_multipart_upload_and_ranged_reads(storage: S3Storage) -> None:
    async def scenario() -> None:
        data = os.urandom(2 * PART_BYTES + 12345)
        assert await storage.save("big.gcode", _chunks(data)) == len(data)
        assert await storage.size("big.gcode") == len(data)
        digest = hashlib.sha256()
        async for chunk in storage.open_range("big.gcode"):
            digest.update(chunk)
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
        boundary = PART_BYTES - 10
        assert await storage.read_range("big.gcode", boundary, 20) == data[boundary : boundary + 20]
        tail = b"".join([c async for c in storage.open_range("big.gcode", len(data) - 100)])
        assert tail == data[-100:]

    asyncio.run(scenario())


def test_failed_upload_leaves_nothing(storage: S3Storage) -> None:
    async def scenario() -> None:
        data = os.urandom(PART_BYTES + (2 << 20))
        with pytest.raises(OSError, match="client went away"):
            await storage.save("broken.gcode", _chunks(data, fail_after=PART_BYTES + (1 << 20)))
        with pytest.raises(FileNotFoundError):
            await storage.size("broken.gcode")
        uploads = await asyncio.to_thread(storage._client.list_multipart_uploads, Bucket=storage.bucket)
        assert uploads.get("Uploads", []) == []

    asyncio.run(scenario())


def test_unreachable_bucket_is_unhealthy(s3_endpoint: str) -> None:
    storage = S3Storage(
        "no-such-bucket",
        endpoint_url=s3_endpoint,
        region="us-east-1",
        access_key="testing",
        secret_key="testing",
    )
    assert asyncio.run(storage.healthy()) is False
