"""Print files: lookups scoped to the account (upload and storage handling live beside them)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from printerlynx.server.db.models import PrintFile
from printerlynx.server.errors import NotFound


async def get(session: AsyncSession, account_uuid: str, print_file_uuid: str) -> PrintFile:
    """The account's print file, or ``NotFound`` (also for another account's file)."""
    print_file = await session.get(PrintFile, print_file_uuid)
    if print_file is None or print_file.account_uuid != account_uuid:
        raise NotFound("print file not found")
    return print_file
