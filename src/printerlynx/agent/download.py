"""Fetch a job's print file: streamed to a ``.part`` file, resumed with ``Range``, verified, then renamed.

The file is only ever visible under its final name once its size and sha256 match what the backend
announced, so a printer never streams a truncated or corrupted file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import re
from collections.abc import Callable
from pathlib import Path

import httpx

logger = logging.getLogger("printerlynx.agent.download")

MAX_FAILURES = 5  # consecutive attempts that made no progress
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
# Answers that retrying will not change.
_FINAL_STATUSES = {400: "refused", 401: "not authorised", 403: "forbidden", 404: "not found", 410: "gone"}


class DownloadError(Exception):
    """The file could not be fetched or did not match; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def resolve_url(server: str, url: str) -> str:
    """``url`` as given when absolute, else relative to the backend's base URL."""
    if url.startswith(("http://", "https://")):
        return url
    if not url.startswith("/"):
        raise DownloadError(f"download_url must be absolute or start with '/': {url[:200]!r}")
    return server.rstrip("/") + url


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _make_parent(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)


def _size(path: Path) -> int:
    """Bytes in ``path``, 0 when it does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


async def _verify(path: Path, size: int, sha256: str) -> None:
    have = _size(path)
    if have != size:
        raise DownloadError(f"size mismatch: got {have} bytes, expected {size}")
    digest = await asyncio.to_thread(_sha256_of, path)
    if digest != sha256.lower():
        raise DownloadError("checksum mismatch: the file's sha256 differs from the job's")


async def _fetch_once(
    client: httpx.AsyncClient,
    url: str,
    part: Path,
    headers: dict[str, str],
    size: int,
    on_progress: Callable[[int], None] | None,
) -> None:
    """One request: append to ``part`` from where it ends (or restart if the server ignores Range)."""
    have = _size(part)
    if have > size:
        _remove(part)
        have = 0
    if have == size:
        return
    request_headers = dict(headers)
    if have:
        request_headers["Range"] = f"bytes={have}-"
    async with client.stream("GET", url, headers=request_headers) as response:
        if response.status_code in _FINAL_STATUSES:
            raise DownloadError(
                f"the server answered {response.status_code} ({_FINAL_STATUSES[response.status_code]})"
            )
        if response.status_code == 416:  # what we have is not a prefix the server knows: start over
            _remove(part)
            raise httpx.TransportError("range not satisfiable; restarting from the beginning")
        if response.status_code == 206:
            match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
            if match is None or int(match[1]) != have:
                _remove(part)
                raise httpx.TransportError("unexpected Content-Range; restarting from the beginning")
            mode = "ab"
        elif response.status_code == 200:
            have, mode = 0, "wb"  # the server ignored Range: take the whole body again
        else:
            raise httpx.TransportError(f"the server answered {response.status_code}")
        with part.open(mode) as out:
            async for chunk in response.aiter_raw():
                have += len(chunk)
                if have > size:
                    raise DownloadError(f"the server sent more than the announced {size} bytes")
                out.write(chunk)
                if on_progress is not None:
                    on_progress(have)


async def download_file(
    client: httpx.AsyncClient,
    url: str,
    destination: Path,
    *,
    token: str,
    size: int,
    sha256: str,
    retry_base: float = 0.5,
    on_progress: Callable[[int], None] | None = None,
) -> Path:
    """Download ``url`` to ``destination`` (via ``destination.part``), resuming and verifying; returns it."""
    if _size(destination):
        with contextlib.suppress(DownloadError):
            await _verify(destination, size, sha256)
            return destination  # already here from an earlier attempt
        _remove(destination)
    _make_parent(destination)
    part = destination.with_name(destination.name + ".part")
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
    failures = 0
    while True:
        before = _size(part)
        try:
            await _fetch_once(client, url, part, headers, size, on_progress)
            break
        except DownloadError:
            _remove(part)
            raise
        except (httpx.TransportError, httpx.StreamError, OSError) as exc:
            after = _size(part)
            # Progress resets the count: a flaky link that keeps delivering finishes eventually.
            failures = 0 if after > before else failures + 1
            if failures >= MAX_FAILURES:
                raise DownloadError(f"download failed after {MAX_FAILURES} attempts: {exc}") from exc
            delay = random.uniform(0, retry_base * 2**failures)
            logger.warning("download interrupted at %d of %d bytes (%s); retrying", after, size, exc)
            await asyncio.sleep(delay)
    try:
        await _verify(part, size, sha256)
    except DownloadError:
        _remove(part)
        raise
    part.replace(destination)
    return destination
