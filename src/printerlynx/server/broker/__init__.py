"""Broker factory: chooses the implementation from ``PRINTERLYNX_BROKER_URL``."""

from __future__ import annotations

from printerlynx.server.broker.base import Broker
from printerlynx.server.broker.memory import MemoryBroker


def create_broker(url: str) -> Broker:
    """``memory://`` (default) or ``redis://…``."""
    if url.startswith("memory"):
        return MemoryBroker()
    if url.startswith(("redis://", "rediss://")):
        from printerlynx.server.broker.redis import RedisBroker

        return RedisBroker(url)
    raise ValueError(f"unsupported broker URL: {url!r}")
