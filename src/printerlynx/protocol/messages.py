"""One pydantic model per WebSocket message body, shared by the backend and the agent.

The spec (``shared/spec/websockets-protocol.md``) fixes type names, field names and status strings;
fields marked *extension* are additive and documented in ``docs/protocol.md``.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

import msgspec
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# Marlin's MAX_CMD_SIZE is 96 bytes including "N<line> " and "*<checksum>\n" that the agent adds.
MAX_GCODE_CHARS = 80
MAX_TOKEN_CHARS = 4096
MAX_NAME_CHARS = 255

_LINE_NUMBER = re.compile(r"^\s*N\d+", re.IGNORECASE)


def canonical_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError("must be a UUID") from exc


def _single_gcode_line(value: str) -> str:
    command = value.strip()
    if not command:
        raise ValueError("command is empty")
    if len(command) > MAX_GCODE_CHARS:
        raise ValueError(f"command is longer than {MAX_GCODE_CHARS} characters")
    if any(not (32 <= ord(char) < 127) for char in command):
        raise ValueError("command must be one line of printable ASCII")
    if _LINE_NUMBER.match(command) or "*" in command:
        raise ValueError("line numbers and checksums are added by the agent; send the bare command")
    return command


UUIDStr = Annotated[str, Field(min_length=32, max_length=36), AfterValidator(canonical_uuid)]
GcodeCommand = Annotated[str, Field(max_length=1024), AfterValidator(_single_gcode_line)]
RequestId = Annotated[str, Field(max_length=64)] | Annotated[int, Field(ge=-(2**53), le=2**53)]
JobType = Literal["START", "PAUSE", "RESUME", "CANCEL"]
PrinterStatusValue = Literal["available", "unavailable", "busy"]
JobState = Literal["created", "printing", "paused", "completed", "cancelled", "failed"]
AckStatus = Literal["OK", "ERROR"]


class _Strict(BaseModel):
    """Inbound from a person: unknown keys are refused, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Lenient(BaseModel):
    """Inbound from an agent or outbound: unknown keys are dropped, never forwarded."""

    model_config = ConfigDict(extra="ignore")


# ---- /api/v1/ws and /api/v1/ws/agent: authentication ------------------------------------------------


class Authentication(_Lenient):
    """``authentication`` request on both endpoints."""

    token: Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_CHARS)]


class AuthenticationReply(_Lenient):
    """``authentication`` reply: ``OK``/``ERROR`` for users, ``success``/``error`` for agents."""

    status: Literal["OK", "ERROR", "success", "error"]
    message: str | None = None


# ---- user → server ----------------------------------------------------------------------------------


class PrintJobRequest(_Strict):
    """``print_job`` from a person: START needs ``print_file_uuid``."""

    type: JobType
    agent_uuid: UUIDStr
    printer_uuid: UUIDStr
    print_file_uuid: UUIDStr | None = None


class PrinterCommandRequest(_Strict):
    """``printer_command`` from a person: one bare G-code line."""

    agent_uuid: UUIDStr
    printer_uuid: UUIDStr
    command: GcodeCommand


class Ack(_Lenient):
    """Reply to a command: ``OK`` or ``ERROR`` with a message (users and agents alike)."""

    status: AckStatus
    message: str | None = None
    job_uuid: str | None = None  # extension: on a START's OK, the job created


# ---- server → agent -----------------------------------------------------------------------------------


class AgentPrintJob(_Lenient):
    """``print_job`` forwarded to an agent (extension fields: job and file details for START)."""

    type: JobType
    printer_uuid: UUIDStr
    job_uuid: UUIDStr
    print_file_uuid: UUIDStr | None = None
    name: str | None = None
    size: int | None = None
    sha256: str | None = None
    download_url: str | None = None


class AgentPrinterCommand(_Lenient):
    """``printer_command`` forwarded to an agent."""

    printer_uuid: UUIDStr
    command: GcodeCommand


# ---- status: agent → server → user --------------------------------------------------------------------
# printer_status is the hot path (thousands per second): its models are msgspec Structs, validated at C speed
# from the decoded frame (``msgspec.convert``); unknown keys are dropped, never forwarded.

Temperature = Annotated[float, msgspec.Meta(ge=-300, le=2000)]
TemperatureMap = Annotated[
    dict[Annotated[str, msgspec.Meta(max_length=16)], Temperature | None], msgspec.Meta(max_length=16)
]
ShortText = Annotated[str, msgspec.Meta(max_length=MAX_NAME_CHARS)]
Timestamp = Annotated[str, msgspec.Meta(max_length=40)]
Seconds = Annotated[float, msgspec.Meta(ge=0)]


class PrinterState(msgspec.Struct, omit_defaults=True):
    """``state`` of a printer: actual temperatures (spec) and targets (extension)."""

    temperature: TemperatureMap = msgspec.field(default_factory=dict)
    target_temperature: TemperatureMap | None = None


class JobStatus(msgspec.Struct, omit_defaults=True):
    """``job`` of a busy printer: the spec's four fields (required) plus extensions (omitted when unknown)."""

    print_file_uuid: uuid.UUID | None
    name: ShortText
    size: Annotated[int, msgspec.Meta(ge=0)]
    progress: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
    job_uuid: uuid.UUID | None = None
    state: JobState | None = None
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    elapsed: Seconds | None = None
    remaining: Seconds | None = None
    message: Annotated[str, msgspec.Meta(max_length=1000)] | None = None


class PrinterStatus(msgspec.Struct):
    """``printer_status``; the server sets ``agent_uuid`` from the connection, never from the payload."""

    printer_uuid: uuid.UUID
    status: PrinterStatusValue
    agent_uuid: Any = None
    printer_identifier: ShortText = ""
    printer_adapter_identifier: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    printer_adapter_interface: ShortText | None = None
    job: JobStatus | None = None
    state: PrinterState | None = None

    def wire(self, agent_uuid: str) -> dict[str, Any]:
        """The dict users see: short form when unavailable, full form otherwise (spec examples)."""
        printer_uuid = str(self.printer_uuid)
        job = msgspec.to_builtins(self.job) if self.job is not None else None
        if self.status == "unavailable":
            body: dict[str, Any] = {
                "agent_uuid": agent_uuid,
                "printer_uuid": printer_uuid,
                "printer_identifier": self.printer_identifier,
                "status": "unavailable",
            }
            if job is not None:
                body["job"] = job
            return body
        return {
            "agent_uuid": agent_uuid,
            "printer_uuid": printer_uuid,
            "printer_identifier": self.printer_identifier,
            "printer_adapter_identifier": self.printer_adapter_identifier,
            "printer_adapter_interface": self.printer_adapter_interface,
            "status": self.status,
            "job": job,
            "state": msgspec.to_builtins(self.state) if self.state is not None else {"temperature": {}},
        }


class _StatusFrame(msgspec.Struct):
    type: str
    data: PrinterStatus


_encode_status_frame = msgspec.json.Encoder().encode


def encode_status_frame(status: PrinterStatus, agent_uuid: str) -> bytes:
    """The ``printer_status`` frame users receive, serialised straight from the validated struct."""
    if status.status == "unavailable":
        return _encode_status_frame({"type": "printer_status", "data": status.wire(agent_uuid)})
    status.agent_uuid = agent_uuid
    if status.state is None:
        status.state = PrinterState()
    return _encode_status_frame(_StatusFrame("printer_status", status))


class AgentStatus(_Lenient):
    """``agent_status``: both ``agent_name`` and ``agent_identifier`` in both states (DESIGN.md)."""

    agent_uuid: str
    agent_name: str
    agent_identifier: str
    status: Literal["online", "offline"]


class PrinterResponse(_Lenient):
    """Extension ``printer_response``: lines the printer answered to a person's command."""

    agent_uuid: str | None = None
    printer_uuid: UUIDStr
    command: str | None = Field(default=None, max_length=1024)
    lines: list[Annotated[str, Field(max_length=1024)]] = Field(default_factory=list, max_length=200)
