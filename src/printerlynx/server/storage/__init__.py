"""Storage factory: chooses the implementation from ``PRINTERLYNX_STORAGE_URL``."""

from __future__ import annotations

from pathlib import Path

from printerlynx.server.storage.base import FileStorage
from printerlynx.server.storage.local import LocalStorage


def create_storage(url: str | None, data_dir: Path) -> FileStorage:
    """Default: ``<data_dir>/files``; ``file:///path`` a directory; ``s3://bucket?endpoint=…`` S3."""
    if not url:
        return LocalStorage(data_dir / "files")
    if url.startswith("file://"):
        return LocalStorage(Path(url.removeprefix("file://")))
    if url.startswith("s3://"):
        from printerlynx.server.storage.s3 import S3Storage

        return S3Storage.from_url(url)
    raise ValueError(f"unsupported storage URL: {url!r}")
