"""Handlers of ``/api/v1/ws/agent``: printer status, acknowledgements and printer responses.

``printer_status`` is the hot path: validate once, stamp the connection's ``agent_uuid`` (never the
payload's), serialise once, publish to the owner's topic. The database is written only when something a
person would look up later changes (status, job, identity) or every ``PERSIST_EVERY`` seconds, and then
in the background (``persist.py``), never in the relay's path.
"""

from __future__ import annotations

import logging
import time

from printerlynx.protocol.envelope import Envelope
from printerlynx.protocol.messages import Ack, PrinterResponse, PrinterStatus, encode_status_frame
from printerlynx.server.broker.base import account_topic
from printerlynx.server.errors import InvalidInput
from printerlynx.server.ws.hub import AgentConnection, Hub
from printerlynx.server.ws.registry import Registry

logger = logging.getLogger("printerlynx.ws.agent")
registry: Registry[AgentConnection] = Registry()

PERSIST_EVERY = 30.0
MAX_PRINTERS_PER_AGENT = 64


def _hub(connection: AgentConnection) -> Hub:
    hub: Hub = connection.websocket.app.state.context.hub
    return hub


@registry.register("printer_status", PrinterStatus)
async def printer_status(connection: AgentConnection, envelope: Envelope, status: PrinterStatus) -> None:
    """Relay one printer's status to its owner's sessions and remember it for snapshots."""
    hub = _hub(connection)
    printer_uuid = str(status.printer_uuid)
    previous = connection.printers.get(printer_uuid)
    if previous is None and len(connection.printers) >= MAX_PRINTERS_PER_AGENT:
        raise InvalidInput(f"an agent may report at most {MAX_PRINTERS_PER_AGENT} printers")
    data = encode_status_frame(status, connection.agent_uuid)
    # Cache before publishing: whoever sees this status may send a command that looks it up at once.
    await hub.broker.set_printer_status(connection.agent_uuid, printer_uuid, data)
    await hub.broker.publish(account_topic(connection.account_uuid), data)
    connection.printers[printer_uuid] = status
    now = time.monotonic()
    if (
        previous is None
        or _identity(previous) != _identity(status)
        or previous.job != status.job
        or now - connection.persisted_at.get(printer_uuid, 0.0) > PERSIST_EVERY
    ):
        # Written by the hub's persist loop within a second; the relay never waits for the database.
        connection.persisted_at[printer_uuid] = now
        connection.dirty[printer_uuid] = status


def _identity(status: PrinterStatus) -> tuple[str | None, ...]:
    return (
        status.status,
        status.printer_identifier,
        status.printer_adapter_identifier,
        status.printer_adapter_interface,
    )


async def _acknowledge(connection: AgentConnection, envelope: Envelope, ack: Ack) -> None:
    """Pass an agent's OK/ERROR back to the instance whose user asked."""
    request_id = str(envelope.id) if envelope.id is not None else None
    reply_to = connection.forwarded.pop(request_id, None) if request_id else None
    if reply_to is None:
        logger.debug("agent %s acknowledged an unknown request %r", connection.agent_uuid, envelope.id)
        return
    await _hub(connection).reply(reply_to, request_id or "", ack.model_dump(exclude_none=True))


registry.register("print_job", Ack)(_acknowledge)
registry.register("printer_command", Ack)(_acknowledge)


@registry.register("printer_response", PrinterResponse)
async def printer_response(
    connection: AgentConnection, envelope: Envelope, response: PrinterResponse
) -> None:
    """Extension: what a printer answered to a person's command, for the owner's terminals."""
    if response.printer_uuid not in connection.printers:
        raise InvalidInput("unknown printer: report its printer_status first")
    body = response.model_dump()
    body["agent_uuid"] = connection.agent_uuid
    await _hub(connection).to_account(connection.account_uuid, "printer_response", body)
