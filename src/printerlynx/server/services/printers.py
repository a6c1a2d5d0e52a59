"""Printers as their agents report them: persisted on change, read back scoped to the account."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from printerlynx.server.db.models import Printer, utcnow
from printerlynx.server.errors import NotFound


async def record_status(
    session: AsyncSession, account_uuid: str, agent_uuid: str, status: dict[str, Any]
) -> None:
    """Insert or update the printer row from one ``printer_status`` body (already validated)."""
    printer_uuid = status["printer_uuid"]
    printer = await session.scalar(
        select(Printer).where(Printer.agent_uuid == agent_uuid, Printer.uuid == printer_uuid)
    )
    if printer is None:
        printer = Printer(uuid=printer_uuid, agent_uuid=agent_uuid, account_uuid=account_uuid)
        session.add(printer)
    printer.identifier = status.get("printer_identifier") or ""
    if status.get("printer_adapter_identifier") is not None:
        printer.adapter_identifier = status["printer_adapter_identifier"]
    if status.get("printer_adapter_interface") is not None:
        printer.adapter_interface = status["printer_adapter_interface"]
    printer.status = status["status"]
    printer.last_status = status
    printer.last_seen_at = utcnow()
    await session.commit()


async def mark_agent_unavailable(session: AsyncSession, agent_uuid: str) -> list[Printer]:
    """When an agent goes offline its printers are unavailable; returns them."""
    printers = list(await session.scalars(select(Printer).where(Printer.agent_uuid == agent_uuid)))
    for printer in printers:
        printer.status = "unavailable"
    await session.commit()
    return printers


async def list_for(session: AsyncSession, account_uuid: str, agent_uuid: str | None = None) -> list[Printer]:
    """The account's printers, optionally of one agent."""
    query = select(Printer).where(Printer.account_uuid == account_uuid)
    if agent_uuid is not None:
        query = query.where(Printer.agent_uuid == agent_uuid)
    return list(await session.scalars(query.order_by(Printer.agent_uuid, Printer.identifier, Printer.uuid)))


async def get(session: AsyncSession, account_uuid: str, printer_uuid: str) -> Printer:
    """The account's printer with this uuid, or ``NotFound``."""
    printer = await session.scalar(
        select(Printer).where(Printer.account_uuid == account_uuid, Printer.uuid == printer_uuid).limit(1)
    )
    if printer is None:
        raise NotFound("printer not found")
    return printer
