"""The message envelope ``{"type", "data", "id"?}``: decoding with clear errors, encoding with orjson."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

MAX_TYPE_CHARS = 64
MAX_ID_CHARS = 64
MAX_SAFE_INT = 2**53


class EnvelopeError(ValueError):
    """The frame is not a valid envelope; ``type`` is the request's type when it could be read."""

    def __init__(self, message: str, message_type: str | None = None, request_id: str | int | None = None):
        super().__init__(message)
        self.message = message
        self.message_type = message_type
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded frame: its type, its data object and the optional request id."""

    type: str
    data: dict[str, Any]
    id: str | int | None


def _valid_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return len(value) <= MAX_ID_CHARS
    return isinstance(value, int) and -MAX_SAFE_INT <= value <= MAX_SAFE_INT


def decode_envelope(frame: str | bytes) -> Envelope:
    """Parse one frame into an ``Envelope`` or raise ``EnvelopeError`` saying what is wrong."""
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError("message is not valid JSON") from exc
    if not isinstance(obj, dict):
        raise EnvelopeError("message must be a JSON object")
    request_id = obj.get("id")
    if request_id is not None and not _valid_id(request_id):
        raise EnvelopeError("id must be a string of at most 64 characters or a safe integer")
    message_type = obj.get("type")
    if not isinstance(message_type, str) or not message_type or len(message_type) > MAX_TYPE_CHARS:
        raise EnvelopeError("type must be a non-empty string", None, request_id)
    data = obj.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EnvelopeError("data must be an object", message_type, request_id)
    return Envelope(message_type, data, request_id)


def encode(
    message_type: str, data: dict[str, Any] | None = None, request_id: str | int | None = None
) -> bytes:
    """Serialise one frame; ``id`` only when given."""
    frame: dict[str, Any] = {"type": message_type, "data": data if data is not None else {}}
    if request_id is not None:
        frame["id"] = request_id
    return orjson.dumps(frame)
