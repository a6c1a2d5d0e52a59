"""Print files: streamed uploads into storage, account-scoped lookups, deletion, job downloads.

Nothing here knows HTTP: an upload is a display name plus an async stream of bytes. Bytes are checked,
counted and hashed while they stream into storage in ~1 MiB pieces, so memory stays flat whatever the
file's size; the first and last MiB are kept aside for the metadata parser, which runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import unicodedata
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from printerlynx.server import gcode
from printerlynx.server.db.models import Job, PrintFile, new_uuid
from printerlynx.server.errors import InvalidInput, NotFound, TooLarge, UnsupportedMedia
from printerlynx.server.metrics import UPLOADED_BYTES
from printerlynx.server.storage.base import FileStorage

DEFAULT_NAME = "upload.gcode"
MAX_NAME_CHARS = 255
WRITE_BYTES = 1 << 20  # pieces handed to storage: few thread hops, bounded memory
FILE_TYPES = {".gcode": "gcode", ".gco": "gcode", ".g": "gcode", ".bgcode": "bgcode"}
_WHITESPACE = re.compile(r"\s+")


async def get(session: AsyncSession, account_uuid: str, print_file_uuid: str) -> PrintFile:
    """The account's print file, or ``NotFound`` (also for another account's file)."""
    print_file = await session.get(PrintFile, print_file_uuid)
    if print_file is None or print_file.account_uuid != account_uuid:
        raise NotFound("print file not found")
    return print_file


def clean_filename(raw: str | None) -> str:
    """Display text from a client's filename: no directories, control or format characters, ≤ 255 chars."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    # Tabs and newlines become spaces first; then Cc (control characters, NUL included), Cf (invisible
    # format characters such as bidi overrides) and lone surrogates go.
    name = _WHITESPACE.sub(" ", name)
    name = "".join(char for char in name if unicodedata.category(char) not in ("Cc", "Cf", "Cs"))
    name = _WHITESPACE.sub(" ", name).strip()
    if name in ("", ".", ".."):
        return DEFAULT_NAME
    if len(name) > MAX_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: MAX_NAME_CHARS - len(extension) - 1].rstrip() + "." + extension
        else:
            name = name[:MAX_NAME_CHARS].rstrip()
    return name


def file_type_for(name: str) -> str:
    """``gcode`` or ``bgcode`` from the name's extension; ``UnsupportedMedia`` for anything else."""
    _, dot, extension = name.rpartition(".")
    file_type = FILE_TYPES.get(f".{extension.lower()}") if dot else None
    if file_type is None:
        allowed = ", ".join(sorted(FILE_TYPES))
        raise UnsupportedMedia(f"only G-code files can be uploaded ({allowed})")
    return file_type


@dataclass
class _Inspector:
    """Counts, hashes, checks and re-chunks the bytes on their way to storage."""

    file_type: str
    max_bytes: int
    size: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    head: bytes = b""
    tail: deque[bytes] = field(default_factory=deque)
    tail_bytes: int = 0
    hashing: asyncio.Future[None] | None = None

    def _check_start(self, first: bytes) -> None:
        if self.file_type == "bgcode":
            if not gcode.is_bgcode(first):
                raise UnsupportedMedia("not a binary G-code file (no GCDE signature)")
        elif not gcode.looks_like_text(first):
            raise UnsupportedMedia("the content is binary, not G-code text")

    def _keep(self, piece: bytes) -> None:
        if len(self.head) < gcode.HEAD_BYTES:
            self.head += piece[: gcode.HEAD_BYTES - len(self.head)]
        self.tail.append(piece)
        self.tail_bytes += len(piece)
        while self.tail_bytes - len(self.tail[0]) >= gcode.TAIL_BYTES:
            self.tail_bytes -= len(self.tail.popleft())

    async def _emit(self, piece: bytes) -> bytes:
        if self.size == 0:
            self._check_start(piece)
        self.size += len(piece)
        # hashlib releases the GIL on large buffers, so piece N is hashed in a thread while storage
        # writes it and the next piece arrives; waiting for piece N-1 first keeps the updates in order
        # and at most two pieces in flight.
        await self._hashed()
        self.hashing = asyncio.get_running_loop().run_in_executor(None, self.digest.update, piece)
        self._keep(piece)
        return piece

    async def _hashed(self) -> None:
        if self.hashing is not None:
            await self.hashing
            self.hashing = None

    async def run(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """Pass ``chunks`` through in ~1 MiB pieces, enforcing the size limit as they come."""
        buffer = bytearray()
        received = 0
        async for chunk in chunks:
            received += len(chunk)
            if received > self.max_bytes:
                raise TooLarge(f"the file is larger than the limit of {self.max_bytes} bytes")
            buffer += chunk
            if len(buffer) >= WRITE_BYTES:
                yield await self._emit(bytes(buffer))
                buffer.clear()
        if buffer:
            yield await self._emit(bytes(buffer))
        await self._hashed()
        if self.size == 0:
            raise InvalidInput("the file is empty")

    def metadata(self) -> gcode.GcodeMetadata:
        """Parse what was kept aside (CPU work: call it in a thread)."""
        if self.file_type == "bgcode":
            return gcode.parse_bgcode(self.head)
        if self.size <= gcode.HEAD_BYTES:
            return gcode.parse_gcode(self.head)
        tail = b"".join(self.tail)
        # Only the part after the head: a file under 2 MiB must not be parsed twice.
        overlap = max(0, len(tail) - (self.size - gcode.HEAD_BYTES))
        return gcode.parse_gcode(self.head, tail[overlap:][-gcode.TAIL_BYTES :])


async def upload(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: FileStorage,
    *,
    account_uuid: str,
    filename: str | None,
    chunks: AsyncIterable[bytes],
    max_bytes: int,
) -> PrintFile:
    """Store a streamed upload and record it; on any failure neither the object nor a row remains."""
    name = clean_filename(filename)
    file_type = file_type_for(name)
    file_uuid = new_uuid()
    storage_key = f"{account_uuid}/{file_uuid}"
    inspector = _Inspector(file_type, max_bytes)
    try:
        size = await storage.save(storage_key, inspector.run(chunks))
        metadata = await asyncio.to_thread(inspector.metadata)
        thumbnail = metadata.thumbnail
        print_file = PrintFile(
            uuid=file_uuid,
            account_uuid=account_uuid,
            name=name,
            size=size,
            checksum=inspector.digest.hexdigest(),
            file_type=file_type,
            storage_key=storage_key,
            file_metadata=metadata.as_dict(),
            thumbnail=thumbnail.data if thumbnail else None,
            thumbnail_mime="image/png" if thumbnail else None,
        )
        async with sessionmaker() as session:
            session.add(print_file)
            await session.commit()
    except BaseException:
        # Shielded: a cancelled upload (client gone, server stopping) must still clean up; a failing
        # cleanup must not hide why the upload failed.
        with contextlib.suppress(Exception):
            await asyncio.shield(storage.delete(storage_key))
        raise
    UPLOADED_BYTES.inc(size)
    return print_file


async def list_for(
    session: AsyncSession, account_uuid: str, *, limit: int = 50, offset: int = 0
) -> tuple[list[PrintFile], int]:
    """The account's print files, newest first, with the total."""
    query = select(PrintFile).where(PrintFile.account_uuid == account_uuid)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(PrintFile.created_at.desc(), PrintFile.uuid).limit(limit).offset(offset)
    )
    return list(rows), total


async def thumbnail(session: AsyncSession, account_uuid: str, print_file_uuid: str) -> tuple[bytes, str]:
    """The file's stored thumbnail and its MIME type, or ``NotFound``."""
    print_file = await get(session, account_uuid, print_file_uuid)
    data = await session.scalar(select(PrintFile.thumbnail).where(PrintFile.uuid == print_file.uuid))
    if not data or not print_file.thumbnail_mime:
        raise NotFound("this print file has no thumbnail")
    return data, print_file.thumbnail_mime


async def delete(session: AsyncSession, storage: FileStorage, print_file: PrintFile) -> None:
    """Remove the row, then the stored bytes (an orphaned object is harmless, a dangling row is not)."""
    storage_key = print_file.storage_key
    await session.delete(print_file)
    await session.commit()
    await storage.delete(storage_key)


async def for_agent_job(session: AsyncSession, agent_uuid: str, job_uuid: str) -> PrintFile:
    """The print file of a job sent to this agent; ``NotFound`` for any other agent's job."""
    job = await session.get(Job, job_uuid)
    if job is None or job.agent_uuid != agent_uuid or job.print_file_uuid is None:
        raise NotFound("job not found")
    print_file = await session.get(PrintFile, job.print_file_uuid)
    if print_file is None or print_file.account_uuid != job.account_uuid:
        raise NotFound("the job's print file no longer exists")
    return print_file
