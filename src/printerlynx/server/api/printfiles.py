"""``/api/v1/printfiles``: streamed upload, list, read, delete, ranged download and thumbnail.

The upload route takes the raw ``Request`` on purpose: FastAPI's ``UploadFile``/``Form`` parameters read
and spool the whole body before any dependency runs, so an unauthenticated client could make the server
store a gigabyte before being refused. Here the token is checked first, then the multipart body is parsed
incrementally as it arrives and the file part streams straight into storage.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from printerlynx.server.api.deps import ContextDep, CurrentAccount, SessionDep, current_account
from printerlynx.server.api.schemas import ERROR_RESPONSES, Page, UUIDPath
from printerlynx.server.db.models import PrintFile
from printerlynx.server.errors import (
    InvalidInput,
    NotFound,
    PrinterlynxError,
    RangeNotSatisfiable,
    TooLarge,
    UnsupportedMedia,
)
from printerlynx.server.services import printfiles
from printerlynx.server.storage.base import FileStorage

router = APIRouter(prefix="/api/v1/printfiles", tags=["printfiles"], responses=ERROR_RESPONSES)

# Room for the multipart framing (boundaries, part headers, small extra fields) around the file itself.
MULTIPART_SLACK = 64 * 1024
FILE_FIELD = b"file"
MAX_PART_HEADER_BYTES = 48 * 1024
_RANGE = re.compile(r"^bytes=(\d{0,19})-(\d{0,19})$")
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}
_FILE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}, "description": "The file"},
    206: {"content": {"application/octet-stream": {}}, "description": "The requested range"},
}


class MalformedBody(PrinterlynxError):
    """The request body is not valid multipart/form-data, or it ended early."""

    code = "malformed_body"
    http_status = 400


class PrintFileOut(BaseModel):
    """An uploaded print file and what its slicer said about it."""

    uuid: str
    name: str
    size: int
    checksum: str
    file_type: str
    created_at: datetime
    metadata: dict[str, Any]
    has_thumbnail: bool

    @classmethod
    def of(cls, print_file: PrintFile) -> PrintFileOut:
        """From the row."""
        return cls(
            uuid=print_file.uuid,
            name=print_file.name,
            size=print_file.size,
            checksum=print_file.checksum,
            file_type=print_file.file_type,
            created_at=print_file.created_at,
            metadata=print_file.file_metadata or {},
            has_thumbnail=print_file.thumbnail_mime is not None,
        )


class MultipartFileReader:
    """Feeds the request body to python-multipart's streaming parser; hands out the ``file`` part's bytes.

    Other fields are parsed and dropped. The whole body is bounded by ``max_body_bytes``, so extra parts
    sent with chunked encoding cannot make the server read forever.
    """

    def __init__(self, body: AsyncIterator[bytes], boundary: bytes, max_body_bytes: int) -> None:
        self._body = body
        self._max_body_bytes = max_body_bytes
        self._received = 0
        self._headers: dict[bytes, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._in_file = False
        self._pending: list[bytes] = []
        self.filename: str | None = None
        self.found = False
        self.file_done = False
        self.ended = False
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
            # Room for a 10 000-character (even percent-encoded) filename: it is cleaned, not refused.
            max_header_size=MAX_PART_HEADER_BYTES,
        )

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if disposition == b"form-data" and options.get(b"name") == FILE_FIELD and not self.found:
            self.found = self._in_file = True
            raw_name = options.get(b"filename")
            self.filename = raw_name.decode("utf-8", errors="replace") if raw_name is not None else None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._pending.append(data[start:end])

    def _part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            self.file_done = True

    def _end(self) -> None:
        self.ended = True

    async def _pump(self) -> bool:
        """Parse one more piece of the body; ``False`` once the body is over."""
        try:
            chunk = await anext(self._body)
        except StopAsyncIteration:
            return False
        self._received += len(chunk)
        if self._received > self._max_body_bytes:
            raise TooLarge(f"the request body is larger than the limit of {self._max_body_bytes} bytes")
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise MalformedBody("the body is not valid multipart/form-data") from exc
        return True

    async def find_file(self) -> str | None:
        """Read until the ``file`` part's headers have been parsed; return its filename."""
        while not self.found:
            if self.ended or not await self._pump():
                raise InvalidInput("the form has no 'file' field")
        return self.filename

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes as they arrive; ends only once the whole body has been received."""
        while True:
            if self._pending:
                pieces, self._pending = self._pending, []
                for piece in pieces:
                    yield piece
            if self.file_done:
                break
            if not await self._pump():
                raise MalformedBody("the body ended inside the file")
        # Read to the end, so a connection cut after the file part still counts as an interrupted upload.
        while not self.ended:
            if not await self._pump():
                raise MalformedBody("the body ended before the closing boundary")


async def _upload_account(request: Request, context: ContextDep) -> str:
    """The uploader's account uuid, checked before a byte of the body is read; the session closes at once."""
    async with context.sessionmaker() as session:
        account = await current_account(request, context, session)
        return account.uuid


@router.post("", status_code=status.HTTP_201_CREATED, openapi_extra=_UPLOAD_BODY)
async def upload_print_file(request: Request, context: ContextDep) -> PrintFileOut:
    """Upload a G-code file as multipart/form-data (field ``file``); streamed, never held in memory."""
    account_uuid = await _upload_account(request, context)
    content_type, options = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data":
        raise UnsupportedMedia("send the file as multipart/form-data in the field 'file'")
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise MalformedBody("the multipart boundary is missing or too long")
    limit = context.settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
        raise TooLarge(f"the file is larger than the limit of {limit} bytes")
    reader = MultipartFileReader(request.stream(), boundary, limit + MULTIPART_SLACK)
    try:
        filename = await reader.find_file()
        print_file = await printfiles.upload(
            context.sessionmaker,
            context.storage,
            account_uuid=account_uuid,
            filename=filename,
            chunks=reader.chunks(),
            max_bytes=limit,
        )
    except ClientDisconnect as exc:
        raise MalformedBody("the upload was interrupted") from exc
    return PrintFileOut.of(print_file)


@router.get("")
async def list_print_files(
    account: CurrentAccount,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page[PrintFileOut]:
    """The account's print files, newest first."""
    rows, total = await printfiles.list_for(session, account.uuid, limit=limit, offset=offset)
    return Page[PrintFileOut](
        items=[PrintFileOut.of(row) for row in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{print_file_uuid}")
async def read_print_file(
    print_file_uuid: UUIDPath, account: CurrentAccount, session: SessionDep
) -> PrintFileOut:
    """One print file."""
    return PrintFileOut.of(await printfiles.get(session, account.uuid, print_file_uuid))


@router.delete("/{print_file_uuid}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_print_file(
    print_file_uuid: UUIDPath, account: CurrentAccount, context: ContextDep, session: SessionDep
) -> None:
    """Delete a print file and its stored bytes."""
    print_file = await printfiles.get(session, account.uuid, print_file_uuid)
    await printfiles.delete(session, context.storage, print_file)


@router.get("/{print_file_uuid}/download", response_class=Response, responses=_FILE_RESPONSE)
async def download_print_file(
    print_file_uuid: UUIDPath,
    request: Request,
    account: CurrentAccount,
    context: ContextDep,
    session: SessionDep,
) -> Response:
    """The file's bytes; a single ``Range`` is honoured (206), so downloads can resume."""
    print_file = await printfiles.get(session, account.uuid, print_file_uuid)
    return await stream_print_file(request, context.storage, print_file)


@router.get(
    "/{print_file_uuid}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The largest embedded PNG"}},
)
async def read_thumbnail(print_file_uuid: UUIDPath, account: CurrentAccount, session: SessionDep) -> Response:
    """The largest PNG thumbnail the slicer embedded; 404 when there is none."""
    data, mime = await printfiles.thumbnail(session, account.uuid, print_file_uuid)
    return Response(data, media_type=mime, headers={"Cache-Control": "private, max-age=86400"})


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive range a ``Range`` header asks for; ``None``: send everything (RFC 9110 §14.2).

    Other units, several ranges and malformed values are ignored (the whole file is sent); a range that
    starts past the end, or an empty suffix, is ``RangeNotSatisfiable``.
    """
    match = _RANGE.match((header or "").replace(" ", ""))
    if match is None or match[0] == "bytes=-":
        return None
    first, last = match.groups()
    if not first:
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable("an empty suffix range selects nothing")
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid, not unsatisfiable
    if start >= size:
        raise RangeNotSatisfiable(f"the range starts at or after the end of the file ({size} bytes)")
    return start, min(end, size - 1)


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the exact UTF-8 name (RFC 6266 / RFC 5987)."""
    fallback = "".join(char if " " <= char <= "~" and char not in '"\\%' else "_" for char in name)
    return f"attachment; filename=\"{fallback or 'download.gcode'}\"; filename*=UTF-8''{quote(name, safe='')}"


async def stream_print_file(request: Request, storage: FileStorage, print_file: PrintFile) -> Response:
    """Stream a print file from storage with ``Range`` support: the one implementation behind both routes."""
    try:
        await storage.size(print_file.storage_key)
    except FileNotFoundError as exc:
        raise NotFound("the print file's content is missing from storage") from exc
    size, etag = print_file.size, f'"{print_file.checksum}"'
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Content-Disposition": content_disposition(print_file.name),
        "X-Content-Type-Options": "nosniff",
    }
    if_range = request.headers.get("if-range")
    try:
        # A stale If-Range (the file changed) means: send the whole current file.
        selected = (
            None if if_range and if_range.strip() != etag else byte_range(request.headers.get("range"), size)
        )
    except RangeNotSatisfiable as exc:
        body = {"error": {"code": exc.code, "message": exc.message}}
        return JSONResponse(body, exc.http_status, headers={"Content-Range": f"bytes */{size}"})
    start, end = selected if selected is not None else (0, size - 1)
    headers["Content-Length"] = str(end - start + 1)
    if selected is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        storage.open_range(print_file.storage_key, start, end),
        status_code=status.HTTP_206_PARTIAL_CONTENT if selected is not None else status.HTTP_200_OK,
        headers=headers,
        media_type="application/octet-stream",
    )
