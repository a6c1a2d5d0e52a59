"""Print files in a local directory (the embedded default, or a shared volume for several instances)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

CHUNK_BYTES = 1 << 20
# A temporary upload not written to for this long was left by a process that died mid-upload.
STALE_PART_SECONDS = 3600
_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]{0,200}$")


class LocalStorage:
    """Objects are files under ``root``; writes go to a temporary name and are renamed when complete."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.remove_stale_parts()

    def remove_stale_parts(self, max_age: float = STALE_PART_SECONDS) -> int:
        """Delete temporaries of uploads cut short by a crash (a live upload keeps its mtime fresh)."""
        removed, cutoff = 0, time.time() - max_age
        for part in self.root.glob("*/.*.part"):
            with contextlib.suppress(OSError):
                if part.stat().st_mtime < cutoff:
                    part.unlink()
                    removed += 1
        return removed

    def _path(self, key: str) -> Path:
        if not _SAFE_KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"unsafe storage key: {key!r}")
        return self.root / key

    async def save(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Stream chunks to a temporary file, fsync, then rename into place; nothing is left on failure."""
        path = self._path(key)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        handle = await asyncio.to_thread(open, temporary, "wb")
        written = 0
        try:
            async for chunk in chunks:
                await asyncio.to_thread(handle.write, chunk)
                written += len(chunk)
            await asyncio.to_thread(handle.flush)
            await asyncio.to_thread(os.fsync, handle.fileno())
            handle.close()
            await asyncio.to_thread(os.replace, temporary, path)
        except BaseException:
            handle.close()
            temporary.unlink(missing_ok=True)
            raise
        return written

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream ``start``..``end`` inclusive in 1 MiB chunks."""
        path = self._path(key)
        handle = await asyncio.to_thread(open, path, "rb")
        try:
            await asyncio.to_thread(handle.seek, start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                size = CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining)
                chunk = await asyncio.to_thread(handle.read, size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def read_range(self, key: str, start: int, length: int) -> bytes:
        """Read a small range at once."""

        def _read() -> bytes:
            with open(self._path(key), "rb") as handle:
                handle.seek(start)
                return handle.read(length)

        return await asyncio.to_thread(_read)

    async def size(self, key: str) -> int:
        """Size of the file."""
        return (await asyncio.to_thread(self._path(key).stat)).st_size

    async def delete(self, key: str) -> None:
        """Remove the file if present."""
        await asyncio.to_thread(self._path(key).unlink, True)

    async def healthy(self) -> bool:
        """Whether the directory is there and writable."""
        return os.access(self.root, os.W_OK)
