"""The ``Broker`` interface: how backend instances route messages and share presence.

One instance holds a connection; others may hold the sessions that care about it. The broker gives
three things, each backed in-process (``memory.py``) or by Redis (``redis.py``):

* **topics** — ``publish(topic, data)`` reaches every callback subscribed to ``topic`` on any instance
  and says how many instances received it (0 means nobody holds that topic: e.g. the agent is offline).
  Topics used: ``account:<uuid>`` (status fan-out to an account's sessions), ``agent:<uuid>`` (commands
  to the instance holding that agent), ``instance:<id>`` (acknowledgements back to the asking instance),
  ``control`` (revocations that every instance must apply).
* **presence** — which agent is online on which instance, expiring by itself if an instance dies.
* **status cache** — the last ``printer_status`` of every printer of an online agent, for snapshots.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

TopicCallback = Callable[[bytes], Awaitable[None] | None]

PRESENCE_TTL_SECONDS = 30


def account_topic(account_uuid: str) -> str:
    """Topic of an account's user sessions."""
    return f"account:{account_uuid}"


def agent_topic(agent_uuid: str) -> str:
    """Topic of the instance holding an agent's connection."""
    return f"agent:{agent_uuid}"


def instance_topic(instance_id: str) -> str:
    """Topic of one backend instance (replies to its pending requests)."""
    return f"instance:{instance_id}"


CONTROL_TOPIC = "control"


@dataclass(frozen=True, slots=True)
class LostAgent:
    """An agent gone offline without its instance saying so (the instance died, or the broker was down)."""

    agent_uuid: str
    presence: bytes
    printer_statuses: dict[str, bytes] = field(default_factory=dict)


class Broker(Protocol):
    """Routing and shared presence between backend instances."""

    instance_id: str

    async def start(self) -> None:
        """Connect and begin delivering subscribed topics."""

    async def stop(self) -> None:
        """Stop delivering and release connections."""

    async def publish(self, topic: str, data: bytes) -> int:
        """Deliver ``data`` to every subscriber of ``topic``; returns how many instances got it."""

    async def subscribe(self, topic: str, callback: TopicCallback) -> None:
        """Call ``callback(data)`` for every message on ``topic`` (one callback per topic per instance)."""

    async def unsubscribe(self, topic: str) -> None:
        """Stop receiving ``topic`` on this instance."""

    async def set_presence(self, agent_uuid: str, data: bytes) -> None:
        """Mark the agent online on this instance (refreshed by ``refresh_presence``)."""

    async def clear_presence(self, agent_uuid: str) -> None:
        """Mark the agent offline, unless another instance has taken it over meanwhile."""

    async def refresh_presence(self, agent_uuids: list[str]) -> None:
        """Keep this instance's agents alive in presence (called periodically)."""

    async def get_presence(self, agent_uuids: list[str]) -> dict[str, bytes]:
        """Presence data of those agents that are online anywhere."""

    async def set_printer_status(self, agent_uuid: str, printer_uuid: str, data: bytes) -> None:
        """Remember the last status frame of a printer."""

    async def get_printer_statuses(self, agent_uuid: str) -> dict[str, bytes]:
        """Last status frames of an agent's printers, by printer uuid."""

    async def clear_printer_statuses(self, agent_uuid: str) -> None:
        """Forget an agent's printer statuses (it went offline)."""

    async def healthy(self) -> bool:
        """Whether the broker can route right now."""

    async def sweep_presence(self) -> list[LostAgent]:
        """Forget agents whose instance died (or that left while the broker was down); each is returned
        to exactly one caller, which announces it offline to its owner."""
