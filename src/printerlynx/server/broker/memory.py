"""In-process broker: the embedded default, for a single backend instance."""

from __future__ import annotations

import inspect
import uuid

from printerlynx.server.broker.base import LostAgent, TopicCallback


class MemoryBroker:
    """Topics, presence and status cache held in this process's memory."""

    def __init__(self) -> None:
        self.instance_id = uuid.uuid4().hex
        self._subscriptions: dict[str, TopicCallback] = {}
        self._presence: dict[str, bytes] = {}
        self._statuses: dict[str, dict[str, bytes]] = {}

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Drop every subscription."""
        self._subscriptions.clear()

    async def publish(self, topic: str, data: bytes) -> int:
        """Call the topic's callback directly, in this task."""
        callback = self._subscriptions.get(topic)
        if callback is None:
            return 0
        result = callback(data)
        if inspect.isawaitable(result):
            await result
        return 1

    async def subscribe(self, topic: str, callback: TopicCallback) -> None:
        """Register ``callback`` for ``topic``."""
        self._subscriptions[topic] = callback

    async def unsubscribe(self, topic: str) -> None:
        """Forget ``topic``."""
        self._subscriptions.pop(topic, None)

    async def set_presence(self, agent_uuid: str, data: bytes) -> None:
        """Mark online."""
        self._presence[agent_uuid] = data

    async def clear_presence(self, agent_uuid: str) -> None:
        """Mark offline."""
        self._presence.pop(agent_uuid, None)

    async def refresh_presence(self, agent_uuids: list[str]) -> None:
        """Nothing expires in one process."""

    async def get_presence(self, agent_uuids: list[str]) -> dict[str, bytes]:
        """Presence of the online ones among ``agent_uuids``."""
        return {uuid_: self._presence[uuid_] for uuid_ in agent_uuids if uuid_ in self._presence}

    async def set_printer_status(self, agent_uuid: str, printer_uuid: str, data: bytes) -> None:
        """Remember the frame."""
        self._statuses.setdefault(agent_uuid, {})[printer_uuid] = data

    async def get_printer_statuses(self, agent_uuid: str) -> dict[str, bytes]:
        """The remembered frames."""
        return dict(self._statuses.get(agent_uuid, {}))

    async def clear_printer_statuses(self, agent_uuid: str) -> None:
        """Forget the frames."""
        self._statuses.pop(agent_uuid, None)

    async def healthy(self) -> bool:
        """Always."""
        return True

    async def sweep_presence(self) -> list[LostAgent]:
        """One process: nothing is ever left behind."""
        return []
