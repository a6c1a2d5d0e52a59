"""The G-code metadata parser, fed bytes: one sample per slicer, head/tail reading, bgcode, garbage."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printerlynx.server.gcode import (
    HEAD_BYTES,
    TAIL_BYTES,
    extract_thumbnails,
    is_bgcode,
    looks_like_text,
    parse_bgcode,
    parse_gcode,
)
from printerlynx.server.gcode.metadata import parse_duration

SAMPLES = Path(__file__).parent / "samples"


def make_png(width: int, height: int, rgb: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    """A real (tiny, solid colour) PNG."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def thumbnail_block(data: bytes, width: int, height: int, tag: str = "thumbnail") -> str:
    """A slicer-style base64 thumbnail block."""
    encoded = base64.b64encode(data).decode()
    lines = [f"; {tag} begin {width}x{height} {len(encoded)}"]
    lines += [f"; {encoded[i : i + 78]}" for i in range(0, len(encoded), 78)]
    return "\n".join([*lines, f"; {tag} end", ""])


EXPECTED: dict[str, dict[str, Any]] = {
    "prusaslicer.gcode": {
        "slicer": "PrusaSlicer",
        "slicer_version": "2.7.1+linux-x64-GTK3",
        "estimated_time": 5025.0,
        "filament_length_mm": 1523.41,
        "filament_weight_g": 4.66,
        "layer_height": 0.15,
        "first_layer_height": 0.2,
        "nozzle_diameter": 0.4,
        "filament_type": "PETG",
        "first_layer_nozzle_temp": 240.0,
        "first_layer_bed_temp": 85.0,
        "thumbnail": (32, 24),
    },
    "superslicer.gcode": {
        "slicer": "SuperSlicer",
        "slicer_version": "2.5.59.8",
        "estimated_time": 2710.0,
        "filament_length_mm": 800.5,
        "first_layer_height": 0.15,  # "75%" of the 0.2 layer height
        "layer_height": 0.2,
        "filament_type": "PLA",
        "first_layer_nozzle_temp": 215.0,
        "first_layer_bed_temp": 60.0,
        "object_height": 1.5,
        "thumbnail": (64, 64),
    },
    "orcaslicer.gcode": {
        "slicer": "OrcaSlicer",
        "slicer_version": "2.1.1",
        "estimated_time": 7384.0,
        "filament_length_mm": 2345.67,
        "filament_weight_g": 7.0,
        "layer_height": 0.2,
        "first_layer_height": 0.25,
        "layer_count": 50,
        "object_height": 10.0,
        "nozzle_diameter": 0.4,
        "filament_type": "PLA",
        "first_layer_nozzle_temp": 220.0,
        "first_layer_bed_temp": 65.0,  # the Textured PEI Plate's temperature
        "thumbnail": (96, 96),
    },
    "bambustudio.gcode": {
        "slicer": "BambuStudio",
        "slicer_version": "01.09.05.51",
        "estimated_time": 4205.0,  # total estimated time, not model printing time
        "filament_length_mm": 4151.76,  # two extruders: the total
        "filament_weight_g": 12.38,
        "layer_height": 0.2,
        "first_layer_height": 0.2,
        "layer_count": 150,
        "object_height": 30.0,
        "nozzle_diameter": 0.4,
        "filament_type": "PLA",
        "first_layer_nozzle_temp": 220.0,
        "first_layer_bed_temp": 55.0,
        "thumbnail": (128, 128),
    },
    "cura.gcode": {
        "slicer": "Cura",
        "slicer_version": "5.6.0",
        "gcode_flavor": "Marlin",
        "estimated_time": 6666.0,
        "filament_length_mm": 1234.56,
        "layer_height": 0.2,
        "first_layer_height": 0.28,
        "layer_count": 150,
        "object_height": 30.2,
        "first_layer_nozzle_temp": 200.0,
        "first_layer_bed_temp": 60.0,
        "thumbnail": (32, 32),
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_slicer_sample(name: str) -> None:
    metadata = parse_gcode((SAMPLES / name).read_bytes())
    found = metadata.as_dict()
    expected = dict(EXPECTED[name])
    width, height = expected.pop("thumbnail")
    for key, value in expected.items():
        assert found.get(key) == pytest.approx(value), (key, found.get(key))
    assert metadata.thumbnail is not None
    assert (metadata.thumbnail.width, metadata.thumbnail.height) == (width, height)
    assert metadata.thumbnail.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert "thumbnail" not in found  # bytes never go into the JSON metadata


def test_prusa_lists_every_thumbnail_but_keeps_only_pngs() -> None:
    metadata = parse_gcode((SAMPLES / "prusaslicer.gcode").read_bytes())
    formats = [(item["format"], item["width"], item["height"]) for item in metadata.thumbnails]
    assert formats == [("png", 16, 16), ("png", 32, 24), ("qoi", 48, 48)]
    assert metadata.thumbnail is not None and metadata.thumbnail.format == "png"


def test_largest_png_wins_over_a_larger_jpg() -> None:
    text = (
        thumbnail_block(make_png(20, 20), 20, 20, "thumbnail_PNG")
        + thumbnail_block(b"\xff\xd8\xff\xe0" + b"\x00" * 64, 300, 300, "thumbnail_JPG")
        + thumbnail_block(make_png(40, 30), 40, 30)
    )
    metadata = parse_gcode(text.encode())
    assert metadata.thumbnail is not None
    assert (metadata.thumbnail.width, metadata.thumbnail.height) == (40, 30)
    assert {item["format"] for item in metadata.thumbnails} == {"png", "jpg"}


def test_header_and_footer_are_found_in_head_and_tail_of_a_large_file() -> None:
    header = (SAMPLES / "orcaslicer.gcode").read_text().split("; EXECUTABLE_BLOCK_START")[0]
    footer = (
        "; EXECUTABLE_BLOCK_END"
        + (SAMPLES / "orcaslicer.gcode").read_text().split("; EXECUTABLE_BLOCK_END")[1]
    )
    body = "G1 X10.123 Y20.456 E0.03125\n" * (3 * HEAD_BYTES // 28)
    data = (header + body + footer).encode()
    assert len(data) > HEAD_BYTES + TAIL_BYTES
    metadata = parse_gcode(data[:HEAD_BYTES], data[-TAIL_BYTES:])
    assert metadata.slicer == "OrcaSlicer"  # from the head
    assert metadata.estimated_time == 7384.0  # from the tail
    assert metadata.first_layer_bed_temp == 65.0
    assert metadata.thumbnail is not None


def test_missing_fields_are_absent() -> None:
    assert parse_gcode(b"G28\nG1 X10 Y10\n").as_dict() == {}
    assert parse_gcode(b"").as_dict() == {}


def test_plain_gcode_falls_back_to_heater_commands() -> None:
    metadata = parse_gcode(b"M140 S55\nM104 S205\nM190 S55\nM109 S210\nG28\n")
    assert metadata.first_layer_bed_temp == 55.0
    assert metadata.first_layer_nozzle_temp == 210.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1d 2h 3m 4s", 93784.0), ("45m 10s", 2710.0), ("6666", 6666.0), ("soon", None), ("", None)],
)
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "garbage",
    [
        b"; thumbnail begin 16x16 100\n; !!!not base64!!!\n; thumbnail end\n",
        b"; thumbnail begin 16x16 100\n; " + base64.b64encode(b"not a png at all") + b"\n; thumbnail end\n",
        b"; thumbnail begin 99999x99999\n; iVBORw0KGgo\n",  # never ends
        b"; layer_height = 99999999999999999999999999999999999\n; layer_height = nan\n",
        b"; estimated printing time (normal mode) = 99999999999999999999d\n",
        b";LAYER_COUNT:-5\n;MAXZ:inf\n;TIME:1e999\n",
        b"\xff\xfe\x00garbage\x00" * 1000,
        "; generated by \u202eSlicer \u0000 on".encode(),
    ],
)
def test_garbage_never_raises(garbage: bytes) -> None:
    metadata = parse_gcode(garbage, garbage)
    assert metadata.thumbnail is None
    for value in metadata.as_dict().values():
        if isinstance(value, float):
            assert value == value and abs(value) != float("inf")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096), st.binary(max_size=4096))
def test_random_bytes_never_raise(head: bytes, tail: bytes) -> None:
    parse_gcode(head, tail)
    parse_bgcode(b"GCDE" + head)
    extract_thumbnails(head.decode("latin-1"))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([";", " ", "=", ":", "thumbnail", " begin ", " end", "12x3", "\n", "1.5", "%"]))
)
def test_random_comment_soup_never_raises(parts: list[str]) -> None:
    parse_gcode("".join(parts).encode())


@pytest.mark.parametrize(
    ("sample", "text"),
    [
        (b"G28\nG1 X1 Y2\n", True),
        ("; 生成 PrusaSlicer ünïcödé\nG28\n".encode(), True),
        ("; café\n".encode()[:-2], True),  # ends inside a multi-byte character
        ("; Latin-1 comment: caf\xe9\nG28\n".encode("latin-1"), True),
        (b"G28\nG1 X1\x00\n", False),
        (bytes(range(256)) * 4, False),
        (b"\x89PNG\r\n\x1a\n" + b"\x01\x02\x03" * 100, False),
        (b"", False),
    ],
)
def test_text_sniffing(sample: bytes, text: bool) -> None:
    assert looks_like_text(sample) is text


def _bgcode_block(
    block_type: int, data: bytes, parameters: bytes = b"\x00\x00", deflate: bool = False
) -> bytes:
    payload = zlib.compress(data) if deflate else data
    header = struct.pack("<HHI", block_type, 1 if deflate else 0, len(data))
    if deflate:
        header += struct.pack("<I", len(payload))
    return header + parameters + payload + struct.pack("<I", zlib.crc32(payload))


def make_bgcode(png: bytes) -> bytes:
    """A small binary G-code file: metadata blocks (one deflated), a PNG thumbnail, one G-code block."""
    printer = b"filament_type=PETG\nnozzle_diameter=0.6\nlayer_height=0.3\nmax_layer_z=12.5\n"
    slicer = b"first_layer_temperature = 245\nfirst_layer_bed_temperature = 80\nfirst_layer_height = 0.35\n"
    return (
        b"GCDE" + struct.pack("<IH", 1, 1)
        + _bgcode_block(0, b"Producer=PrusaSlicer 2.6.0\n")
        + _bgcode_block(3, printer, deflate=True)
        + _bgcode_block(5, png, struct.pack("<HHH", 0, 24, 16))
        + _bgcode_block(4, b"estimated printing time (normal mode)=1h 1m 1s\nfilament used [g]=9.5\n")
        + _bgcode_block(2, slicer, deflate=True)
        + _bgcode_block(1, b"G28\nG1 X1\n")
    )  # fmt: skip


def test_bgcode_metadata_and_thumbnail() -> None:
    data = make_bgcode(make_png(24, 16))
    assert is_bgcode(data) and not is_bgcode(b"G28\n")
    found = parse_bgcode(data).as_dict()
    assert found["slicer"] == "PrusaSlicer" and found["slicer_version"] == "2.6.0"
    assert found["filament_type"] == "PETG"
    assert found["nozzle_diameter"] == 0.6
    assert found["object_height"] == 12.5
    assert found["estimated_time"] == 3661.0
    assert found["first_layer_nozzle_temp"] == 245.0
    assert found["first_layer_bed_temp"] == 80.0
    assert found["thumbnails"] == [
        {"format": "png", "width": 24, "height": 16, "size": len(make_png(24, 16))}
    ]
    assert parse_bgcode(data).thumbnail is not None


def test_truncated_bgcode_never_raises() -> None:
    data = make_bgcode(make_png(8, 8))
    for cut in range(0, len(data), 7):
        parse_bgcode(data[:cut])
