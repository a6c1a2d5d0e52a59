"""The ``FileStorage`` interface: where print-file bytes live (a local directory or S3).

Keys are opaque, server-made strings (never a client's filename). Writers stream: nothing holds a whole
file in memory. A ``save`` that fails or is cancelled part-way leaves nothing behind under ``key``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol


class FileStorage(Protocol):
    """Streamed object storage for print files."""

    async def save(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Store the chunks under ``key``, returning the byte count; all or nothing."""

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes ``start`` to ``end`` inclusive (``None``: to the end of the object)."""

    async def read_range(self, key: str, start: int, length: int) -> bytes:
        """Read at most ``length`` bytes from ``start`` (small reads: metadata, thumbnails)."""

    async def size(self, key: str) -> int:
        """The object's size in bytes; ``FileNotFoundError`` when absent."""

    async def delete(self, key: str) -> None:
        """Remove the object; absent objects are not an error."""

    async def healthy(self) -> bool:
        """Whether storage is reachable."""
