"""Handlers of ``/api/v1/ws``: a person's ``print_job`` and ``printer_command``.

Each command is checked here (ownership, presence, printer state), forwarded to the agent, and answered
only when the agent has acknowledged it — in a task of its own, so one slow agent never stalls the
session's other messages.
"""

from __future__ import annotations

from typing import Any

import orjson

from printerlynx.protocol.envelope import Envelope
from printerlynx.protocol.messages import PrinterCommandRequest, PrintJobRequest
from printerlynx.server.errors import Conflict, InvalidInput, NotFound, PrinterlynxError
from printerlynx.server.metrics import COMMANDS
from printerlynx.server.services import agents, jobs, printfiles
from printerlynx.server.ws.hub import Hub, UserConnection
from printerlynx.server.ws.registry import Registry, error_frame, frame

registry: Registry[UserConnection] = Registry()

# Which job states (as the agent last reported them) allow which request.
_ALLOWED_JOB_STATES = {"PAUSE": {"printing"}, "RESUME": {"paused"}, "CANCEL": {"printing", "paused"}}


def _hub(connection: UserConnection) -> Hub:
    hub: Hub = connection.websocket.app.state.context.hub
    return hub


async def _printer_status(hub: Hub, account_uuid: str, agent_uuid: str, printer_uuid: str) -> dict[str, Any]:
    """The printer's last reported status, after checking the agent is the account's and online."""
    async with hub.context.sessionmaker() as session:
        await agents.get(session, account_uuid, agent_uuid)
    statuses = await hub.broker.get_printer_statuses(agent_uuid)
    if not statuses and not await hub.broker.get_presence([agent_uuid]):
        raise Conflict("agent is offline")
    raw = statuses.get(printer_uuid)
    if raw is None:
        raise NotFound("printer not found")
    status: dict[str, Any] = orjson.loads(raw)["data"]
    return status


def _run_command(connection: UserConnection, envelope: Envelope, work: Any) -> None:
    """Run ``work`` (a coroutine returning the reply body) in a task; always answer."""

    async def runner() -> None:
        try:
            body = await work
        except PrinterlynxError as exc:
            body = {"status": "ERROR", "message": exc.message}
        COMMANDS.labels(envelope.type, body.get("status", "ERROR")).inc()
        connection.send(frame(envelope.type, body, envelope.id))

    if not connection.spawn(runner()):
        connection.send(error_frame(envelope.type, "too many commands waiting for agents", envelope.id))


@registry.register("print_job", PrintJobRequest)
async def print_job(connection: UserConnection, envelope: Envelope, request: PrintJobRequest) -> None:
    """START, PAUSE, RESUME or CANCEL a job on one of the account's printers."""
    if request.type == "START" and request.print_file_uuid is None:
        raise InvalidInput("print_file_uuid is required to START a job")
    _run_command(connection, envelope, _print_job(connection, request))


async def _print_job(connection: UserConnection, request: PrintJobRequest) -> dict[str, Any]:
    hub = _hub(connection)
    status = await _printer_status(hub, connection.account_uuid, request.agent_uuid, request.printer_uuid)
    printer_state = status.get("status")
    job = status.get("job") or {}
    if request.type == "START":
        if printer_state != "available":
            raise Conflict(f"printer is {printer_state}; a job can start only on an available printer")
        return await _start(hub, connection.account_uuid, request)
    if printer_state == "unavailable":
        raise Conflict("printer is unavailable")
    job_state = job.get("state") or ("printing" if printer_state == "busy" else None)
    if job_state not in _ALLOWED_JOB_STATES[request.type]:
        raise Conflict(f"cannot {request.type} when the printer's job is {job_state or 'not running'}")
    body = {"type": request.type, "printer_uuid": request.printer_uuid, "job_uuid": job.get("job_uuid")}
    if body["job_uuid"] is None:
        raise Conflict("the printer did not report which job it is running")
    return await hub.command(request.agent_uuid, "print_job", body)


async def _start(hub: Hub, account_uuid: str, request: PrintJobRequest) -> dict[str, Any]:
    assert request.print_file_uuid is not None
    async with hub.context.sessionmaker() as session:
        print_file = await printfiles.get(session, account_uuid, request.print_file_uuid)
        job = await jobs.create(
            session,
            account_uuid=account_uuid,
            agent_uuid=request.agent_uuid,
            printer_uuid=request.printer_uuid,
            print_file_uuid=print_file.uuid,
            file_name=print_file.name,
            file_size=print_file.size,
        )
    path = f"/api/v1/agent/jobs/{job.uuid}/file"
    public_url = hub.context.settings.public_url
    body = {
        "type": "START",
        "printer_uuid": request.printer_uuid,
        "job_uuid": job.uuid,
        "print_file_uuid": print_file.uuid,
        "name": print_file.name,
        "size": print_file.size,
        "sha256": print_file.checksum,
        "download_url": f"{public_url.rstrip('/')}{path}" if public_url else path,
    }
    ack = await hub.command(request.agent_uuid, "print_job", body)
    async with hub.context.sessionmaker() as session:
        if ack.get("status") != "OK":
            await jobs.fail(session, job.uuid, str(ack.get("message") or "agent refused the job"))
            return ack
    return {**ack, "job_uuid": job.uuid}


@registry.register("printer_command", PrinterCommandRequest)
async def printer_command(
    connection: UserConnection, envelope: Envelope, request: PrinterCommandRequest
) -> None:
    """Send one G-code line to one of the account's printers."""
    _run_command(connection, envelope, _printer_command(connection, request))


async def _printer_command(connection: UserConnection, request: PrinterCommandRequest) -> dict[str, Any]:
    hub = _hub(connection)
    status = await _printer_status(hub, connection.account_uuid, request.agent_uuid, request.printer_uuid)
    if status.get("status") == "unavailable":
        raise Conflict("printer is unavailable")
    body = {"printer_uuid": request.printer_uuid, "command": request.command}
    return await hub.command(request.agent_uuid, "printer_command", body)
