"""Embedded thumbnails: ``; thumbnail begin WxH LEN`` … ``; thumbnail end`` base64 blocks.

PrusaSlicer, SuperSlicer, OrcaSlicer, Bambu Studio and Cura's thumbnail plugin write PNG blocks as
``thumbnail``; newer PrusaSlicers also write ``thumbnail_PNG``, ``thumbnail_JPG`` and ``thumbnail_QOI``.
Every block is listed; only PNGs are kept as images (a browser shows them as they are).
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_THUMBNAIL_BYTES = 1 << 20
_BEGIN = re.compile(
    r"^;[ \t]*(thumbnail(?:_(?P<format>[A-Za-z0-9]+))?)[ \t]+begin[ \t]+(?P<width>\d{1,5})[ \t]*x[ \t]*"
    r"(?P<height>\d{1,5})(?:[ \t]+(?P<length>\d{1,9}))?[^\n]*$",
    re.MULTILINE,
)
# A block longer than this is not a thumbnail we want (and bounds the search for its end).
_MAX_BLOCK_CHARS = 4 * MAX_THUMBNAIL_BYTES // 3 + 64 * 1024
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]")


@dataclass(frozen=True)
class Thumbnail:
    """One embedded image: its format (``png``, ``jpg``, ``qoi``), size in pixels and bytes."""

    format: str
    width: int
    height: int
    data: bytes

    def describe(self) -> dict[str, object]:
        """What the metadata records about it (not the bytes)."""
        return {"format": self.format, "width": self.width, "height": self.height, "size": len(self.data)}


def _png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the PNG's IHDR chunk, or ``None`` when it is not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def extract_thumbnails(text: str) -> list[Thumbnail]:
    """Every well-formed thumbnail block in ``text``; broken blocks are skipped, never raised."""
    found: list[Thumbnail] = []
    for begin in _BEGIN.finditer(text):
        tag = begin.group(1)
        end_marker = re.compile(rf"^;[ \t]*{re.escape(tag)}[ \t]+end\b", re.MULTILINE)
        end = end_marker.search(text, begin.end(), begin.end() + _MAX_BLOCK_CHARS)
        if end is None:
            continue
        payload = _NOT_BASE64.sub("", text[begin.end() : end.start()].replace(";", ""))
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            continue
        if not data or len(data) > MAX_THUMBNAIL_BYTES:
            continue
        image_format = (begin.group("format") or "png").lower()
        if image_format == "jpeg":
            image_format = "jpg"
        width, height = int(begin.group("width")), int(begin.group("height"))
        if image_format == "png":
            size = _png_size(data)
            if size is None:
                continue
            width, height = size
        found.append(Thumbnail(image_format, width, height, data))
    return found


def largest_png(thumbnails: list[Thumbnail]) -> Thumbnail | None:
    """The PNG with the most pixels (then the most bytes), or ``None``."""
    pngs = [thumbnail for thumbnail in thumbnails if thumbnail.format == "png"]
    if not pngs:
        return None
    return max(pngs, key=lambda thumbnail: (thumbnail.width * thumbnail.height, len(thumbnail.data)))
