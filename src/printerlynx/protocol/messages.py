"""One pydantic model per WebSocket message body, shared by the backend and the agent.

The spec (``shared/spec/websockets-protocol.md``) fixes type names, field names and status strings;
fields marked *extension* are additive and documented in ``docs/protocol.md``.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

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


Temperature = Annotated[float, Field(ge=-300, le=2000, allow_inf_nan=False)]


class PrinterState(_Lenient):
    """``state`` of a printer: actual temperatures (spec) and targets (extension)."""

    temperature: dict[Annotated[str, Field(max_length=16)], Temperature | None] = Field(
        default_factory=dict, max_length=16
    )
    target_temperature: dict[Annotated[str, Field(max_length=16)], Temperature | None] | None = Field(
        default=None, max_length=16
    )


class JobStatus(_Lenient):
    """``job`` of a busy printer: spec fields plus the job's identity, state and times (extension)."""

    print_file_uuid: UUIDStr | None = None
    name: Annotated[str, Field(max_length=MAX_NAME_CHARS)] = ""
    size: Annotated[int, Field(ge=0)] = 0
    progress: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = 0.0
    job_uuid: UUIDStr | None = None
    state: JobState | None = None
    started_at: str | None = Field(default=None, max_length=40)
    ended_at: str | None = Field(default=None, max_length=40)
    elapsed: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    remaining: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    message: str | None = Field(default=None, max_length=1000)


class PrinterStatus(_Lenient):
    """``printer_status``; the server sets ``agent_uuid`` from the connection, never from the payload."""

    agent_uuid: str | None = None
    printer_uuid: UUIDStr
    printer_identifier: Annotated[str, Field(max_length=MAX_NAME_CHARS)] = ""
    printer_adapter_identifier: str | None = Field(default=None, max_length=64)
    printer_adapter_interface: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    status: PrinterStatusValue
    job: JobStatus | None = None
    state: PrinterState | None = None

    def wire(self, agent_uuid: str) -> dict[str, Any]:
        """The dict users see: short form when unavailable, full form otherwise (spec examples)."""
        if self.status == "unavailable":
            return {
                "agent_uuid": agent_uuid,
                "printer_uuid": self.printer_uuid,
                "printer_identifier": self.printer_identifier,
                "status": "unavailable",
                **({"job": self.job.model_dump(exclude_none=True)} if self.job else {}),
            }
        return {
            "agent_uuid": agent_uuid,
            "printer_uuid": self.printer_uuid,
            "printer_identifier": self.printer_identifier,
            "printer_adapter_identifier": self.printer_adapter_identifier,
            "printer_adapter_interface": self.printer_adapter_interface,
            "status": self.status,
            "job": self.job.model_dump(exclude_none=True) if self.job else None,
            "state": (self.state or PrinterState()).model_dump(exclude_none=True),
        }


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
