"""Shared objects built by the lifespan and handed to handlers through ``app.state.context``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from printerlynx.server.broker.base import Broker
from printerlynx.server.settings import Settings
from printerlynx.server.storage.base import FileStorage

if TYPE_CHECKING:
    from printerlynx.server.ws.hub import Hub


@dataclass
class AppContext:
    """Everything a request handler may need, made once per app."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    broker: Broker
    storage: FileStorage
    jwt_secret: str
    hub: Hub = field(init=False)
