"""Metadata extraction from uploaded print files: I/O-free functions fed bytes (tested by feeding bytes)."""

from printerlynx.server.gcode.bgcode import parse_bgcode
from printerlynx.server.gcode.metadata import HEAD_BYTES, TAIL_BYTES, GcodeMetadata, parse_gcode
from printerlynx.server.gcode.sniff import is_bgcode, looks_like_text
from printerlynx.server.gcode.thumbnails import Thumbnail, extract_thumbnails, largest_png

__all__ = [
    "HEAD_BYTES",
    "TAIL_BYTES",
    "GcodeMetadata",
    "Thumbnail",
    "extract_thumbnails",
    "is_bgcode",
    "largest_png",
    "looks_like_text",
    "parse_bgcode",
    "parse_gcode",
]
