"""Message models and the envelope shared by backend and agent."""

from printerlynx.protocol.envelope import decode_envelope, encode
from printerlynx.protocol.messages import (
    Ack,
    AgentPrinterCommand,
    AgentPrintJob,
    AgentStatus,
    Authentication,
    JobStatus,
    PrinterCommandRequest,
    PrinterResponse,
    PrinterState,
    PrinterStatus,
    PrintJobRequest,
)

__all__ = [
    "Ack",
    "AgentPrintJob",
    "AgentPrinterCommand",
    "AgentStatus",
    "Authentication",
    "JobStatus",
    "PrintJobRequest",
    "PrinterCommandRequest",
    "PrinterResponse",
    "PrinterState",
    "PrinterStatus",
    "decode_envelope",
    "encode",
]
