"""``/api/v1/printers``: printers seen from the account's agents, with their last status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from printerlynx.server.api.deps import ContextDep, CurrentAccount, SessionDep
from printerlynx.server.api.schemas import ERROR_RESPONSES, UUIDPath
from printerlynx.server.db.models import Printer
from printerlynx.server.services import printers

router = APIRouter(prefix="/api/v1/printers", tags=["printers"], responses=ERROR_RESPONSES)


class PrinterOut(BaseModel):
    """A printer; ``status`` is ``unavailable`` whenever its agent is offline."""

    uuid: str
    agent_uuid: str
    identifier: str
    adapter_identifier: str | None
    adapter_interface: str | None
    status: str
    last_status: dict[str, Any]
    last_seen_at: datetime
    agent_online: bool

    @classmethod
    def of(cls, printer: Printer, agent_online: bool) -> PrinterOut:
        """From the row and its agent's presence."""
        return cls(
            uuid=printer.uuid,
            agent_uuid=printer.agent_uuid,
            identifier=printer.identifier,
            adapter_identifier=printer.adapter_identifier,
            adapter_interface=printer.adapter_interface,
            status=printer.status if agent_online else "unavailable",
            last_status=printer.last_status,
            last_seen_at=printer.last_seen_at,
            agent_online=agent_online,
        )


@router.get("")
async def list_printers(
    account: CurrentAccount, context: ContextDep, session: SessionDep, agent_uuid: str | None = None
) -> list[PrinterOut]:
    """The account's printers, optionally of one agent."""
    rows = await printers.list_for(session, account.uuid, agent_uuid)
    online = await context.broker.get_presence(sorted({row.agent_uuid for row in rows}))
    return [PrinterOut.of(row, row.agent_uuid in online) for row in rows]


@router.get("/{printer_uuid}")
async def read_printer(
    printer_uuid: UUIDPath, account: CurrentAccount, context: ContextDep, session: SessionDep
) -> PrinterOut:
    """One printer with its last status and when it was last seen."""
    row = await printers.get(session, account.uuid, printer_uuid)
    online = await context.broker.get_presence([row.agent_uuid])
    return PrinterOut.of(row, row.agent_uuid in online)
