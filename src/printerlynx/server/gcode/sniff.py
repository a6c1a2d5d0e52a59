"""Cheap checks on the first bytes of an upload: is this text G-code, is this binary G-code?"""

from __future__ import annotations

import codecs

BGCODE_MAGIC = b"GCDE"
SNIFF_BYTES = 64 * 1024
# Control characters that never appear in G-code text (tab, LF, FF and CR do).
_CONTROL = bytes(range(0x00, 0x09)) + b"\x0b" + bytes(range(0x0E, 0x20)) + b"\x7f"
_MAX_CONTROL_SHARE = 0.01
_MAX_UNDECODABLE_SHARE = 0.30


def looks_like_text(sample: bytes) -> bool:
    """Whether ``sample`` (the file's first bytes) is plausibly text G-code rather than binary data."""
    sample = sample[:SNIFF_BYTES]
    if not sample:
        return False
    if b"\x00" in sample:
        return False
    controls = len(sample) - len(sample.translate(None, _CONTROL))
    if controls > len(sample) * _MAX_CONTROL_SHARE:
        return False
    try:
        # Incremental: the sample may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        high = sum(1 for byte in sample if byte >= 0x80)
        return high <= len(sample) * _MAX_UNDECODABLE_SHARE
    return True


def is_bgcode(sample: bytes) -> bool:
    """Whether ``sample`` starts with the binary G-code magic ``GCDE``."""
    return sample[:4] == BGCODE_MAGIC
