"""The printer's data: its configuration, the error it refuses requests with, and the print job it streams
(read in chunks, progress by bytes, its status body)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CHUNK_BYTES = 65536


class PrinterError(Exception):
    """A request the printer cannot do now; ``message`` is the human reason (sent back as ERROR)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class PrinterConfig:
    """One printer's settings; everything after ``baud`` has a default and may come from the config file."""

    name: str
    uuid: str
    adapter: str = "VIRTUAL"  # "SERIAL" | "VIRTUAL"
    port: str = "virtual"
    baud: int = 115200
    rx_buffer_bytes: int = 128
    park_script: list[str] = field(default_factory=lambda: ["G91", "G1 Z5 E-2 F600", "G90"])
    restore_script: list[str] = field(default_factory=lambda: ["G91", "G1 Z-5 E2 F600", "G90"])
    cancel_script: list[str] = field(default_factory=lambda: ["M104 S0", "M140 S0", "M107", "M84"])
    communication_timeout: float = 30.0
    busy_timeout: float = 5.0
    long_command_timeout: float = 900.0
    resend_ok_timeout: float = 0.5
    handshake_timeout: float = 3.0
    handshake_attempts: int = 5
    reconnect_interval: float = 5.0
    temperature_interval: float = 5.0
    temperature_interval_heating: float = 2.0
    autoreport_interval: int = 2
    status_interval: float = 2.0
    virtual: dict[str, Any] = field(default_factory=dict)  # VirtualOptions for the VIRTUAL adapter
    virtual_printer: Any = None  # the simulator itself (made from ``virtual`` on first use; tests pass one)


def clean_line(raw: bytes) -> str:
    """A file line as the printer should get it: comment (``;``…) and surrounding blanks removed."""
    text = raw.split(b";", 1)[0].decode("utf-8", "replace").strip()
    return text


def read_chunk(path: Path, offset: int) -> tuple[list[tuple[str, int]], int, bool]:
    """Lines (command, end offset) of the next chunk from ``offset``; the new offset; whether the file ended.

    Runs in a worker thread: it opens, reads and closes the file each time, so a cancelled job never
    leaves a thread reading a closed file.
    """
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read(CHUNK_BYTES)
    if not data:
        return [], offset, True
    end = data.rfind(b"\n")
    at_eof = len(data) < CHUNK_BYTES
    if end < 0 and not at_eof:
        end = len(data) - 1  # a line longer than a chunk: cut it (a G-code line is far shorter)
    if at_eof:
        end = len(data) - 1
    lines: list[tuple[str, int]] = []
    position = offset
    for raw in data[: end + 1].split(b"\n"):
        position += len(raw) + 1
        command = clean_line(raw)
        if command:
            lines.append((command, min(position, offset + end + 1)))
    return lines, offset + end + 1, at_eof


def iso(timestamp: float | None) -> str | None:
    """``2026-11-28T12:00:00.123Z`` (UTC), or None."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(eq=False)
class Job:
    """One print on one printer; stays after it ends so the backend learns how it ended."""

    job_uuid: str
    path: Path
    name: str
    size: int
    print_file_uuid: str
    file_size: int
    started_at: float
    state: str = "printing"  # printing | paused | completed | cancelled | failed
    progress: float = 0.0
    ended_at: float | None = None
    message: str | None = None

    def acknowledged(self, end_offset: int, last: bool) -> None:
        """The printer took the line ending at ``end_offset`` (the final ``M400`` when ``last``)."""
        if self.state not in ("printing", "paused"):
            return
        if self.file_size > 0:
            self.progress = max(self.progress, min(end_offset / self.file_size, 1.0))
        if last:
            self.progress = 1.0
            self.state = "completed"

    def finish(self, state: str, message: str | None, now: float) -> None:
        """End the job as ``state`` (completed, cancelled, failed)."""
        self.state = state
        self.message = message
        if self.ended_at is None:
            self.ended_at = now

    def status(self, now: float) -> dict[str, Any]:
        """The ``job`` object of ``printer_status``."""
        elapsed = max((self.ended_at or now) - self.started_at, 0.0)
        body: dict[str, Any] = {
            "print_file_uuid": self.print_file_uuid,
            "name": self.name,
            "size": self.size,
            "progress": round(self.progress, 4),
            "job_uuid": self.job_uuid,
            "state": self.state,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "elapsed": round(elapsed, 1),
            "message": self.message,
        }
        if self.state == "printing" and self.progress >= 0.01:
            body["remaining"] = round(elapsed * (1 - self.progress) / self.progress, 1)
        return body
