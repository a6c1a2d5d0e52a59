"""The hub: this instance's live connections, wired to the broker.

* user sessions subscribe ``account:<uuid>`` — status frames arrive already serialised and are queued to
  every local session of that account as they are (serialised once, whatever the fan-out);
* an agent connection subscribes ``agent:<uuid>`` — commands from any instance arrive there;
* commands this instance sent wait in ``pending`` for the acknowledgement that comes back on
  ``instance:<id>``, or time out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING, Any

import orjson

from printerlynx.protocol.messages import PrinterStatus
from printerlynx.server.broker.base import (
    CONTROL_TOPIC,
    LostAgent,
    account_topic,
    agent_topic,
    instance_topic,
)
from printerlynx.server.errors import Unavailable
from printerlynx.server.ws import persist
from printerlynx.server.ws.connection import CLOSE_REPLACED, CLOSE_REVOKED, Connection
from printerlynx.server.ws.registry import frame

if TYPE_CHECKING:
    from printerlynx.server.context import AppContext

logger = logging.getLogger("printerlynx.hub")
PRESENCE_REFRESH_SECONDS = 10.0


class UserConnection(Connection):
    """A dashboard or script on ``/api/v1/ws``."""

    endpoint = "user"
    account_uuid: str = ""


class AgentConnection(Connection):
    """An agent on ``/api/v1/ws/agent``."""

    endpoint = "agent"
    account_uuid: str = ""
    agent_uuid: str = ""
    agent_name: str = ""
    # Requests forwarded to this agent and not yet answered: request id → instance that waits.
    forwarded: dict[str, str]
    printers: dict[str, PrinterStatus]
    persisted_at: dict[str, float]
    # Printers whose latest status is not yet in the database (see persist.py).
    dirty: dict[str, PrinterStatus]
    persist_lock: asyncio.Lock

    def init_agent(self, account_uuid: str, agent_uuid: str, agent_name: str) -> None:
        """Attach identity once authenticated."""
        self.account_uuid, self.agent_uuid, self.agent_name = account_uuid, agent_uuid, agent_name
        self.forwarded = {}
        self.printers = {}
        self.persisted_at = {}
        self.dirty = {}
        self.persist_lock = asyncio.Lock()


class Hub:
    """Local connections of this instance and the routes between them through the broker."""

    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.broker = context.broker
        self.sessions: dict[str, set[UserConnection]] = {}
        self.agents: dict[str, AgentConnection] = {}
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._background: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Subscribe to this instance's reply topic and the control topic; keep presence fresh."""
        await self.broker.subscribe(instance_topic(self.broker.instance_id), self._on_reply)
        await self.broker.subscribe(CONTROL_TOPIC, self._on_control)
        self._background = [
            asyncio.create_task(self._refresh_presence()),
            asyncio.create_task(persist.persist_loop(self.context, self.agents)),
        ]

    async def stop(self) -> None:
        """Close every connection (their agents reconnect elsewhere) and stop background work."""
        for task in self._background:
            task.cancel()
        for agent in list(self.agents.values()):
            agent.close(1012, "server restarting")
        for sessions in list(self.sessions.values()):
            for session in list(sessions):
                session.close(1012, "server restarting")
        for future in self.pending.values():
            future.cancel()

    async def _refresh_presence(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_REFRESH_SECONDS)
            try:
                await self.broker.refresh_presence(list(self.agents))
                for lost in await self.broker.sweep_presence():
                    await self._announce_lost(lost)
            except Exception:  # the broker may be down; presence is rebuilt when it returns
                logger.warning("could not refresh presence", exc_info=True)

    async def _announce_lost(self, lost: LostAgent) -> None:
        """An agent whose instance died (or that left during a broker outage) is offline: tell its owner."""
        if lost.agent_uuid in self.agents:
            return  # it has reconnected here meanwhile
        presence = orjson.loads(lost.presence)
        account_uuid, name = presence["account"], presence["name"]
        offline = agent_status_body(lost.agent_uuid, name, "offline")
        await self.to_account(account_uuid, "agent_status", offline)
        for printer_uuid, raw in lost.printer_statuses.items():
            identifier = (orjson.loads(raw).get("data") or {}).get("printer_identifier", "")
            body = {"agent_uuid": lost.agent_uuid, "printer_uuid": printer_uuid}
            body |= {"printer_identifier": identifier, "status": "unavailable"}
            await self.to_account(account_uuid, "printer_status", body)

    # ---- users ------------------------------------------------------------------------------------------

    async def add_session(self, session: UserConnection) -> None:
        """Register an authenticated user session; the first of an account subscribes its topic."""
        sessions = self.sessions.setdefault(session.account_uuid, set())
        sessions.add(session)
        if len(sessions) == 1:
            account_uuid = session.account_uuid
            await self.broker.subscribe(
                account_topic(account_uuid), lambda data: self._fan_out(account_uuid, data)
            )

    async def remove_session(self, session: UserConnection) -> None:
        """Forget a session; the last of an account unsubscribes its topic."""
        sessions = self.sessions.get(session.account_uuid)
        if sessions is None:
            return
        sessions.discard(session)
        if not sessions:
            del self.sessions[session.account_uuid]
            await self.broker.unsubscribe(account_topic(session.account_uuid))

    def _fan_out(self, account_uuid: str, data: bytes) -> None:
        text = data.decode()
        for session in tuple(self.sessions.get(account_uuid, ())):
            session.send(text)

    async def to_account(self, account_uuid: str, message_type: str, body: dict[str, Any]) -> None:
        """Send one message to every session of the account on every instance (serialised once)."""
        await self.broker.publish(account_topic(account_uuid), frame(message_type, body).encode())

    async def revoke_account(self, account_uuid: str) -> None:
        """Close the account's sessions everywhere with 4003."""
        await self.broker.publish(
            CONTROL_TOPIC, orjson.dumps({"kind": "revoke_account", "uuid": account_uuid})
        )

    async def revoke_agent(self, agent_uuid: str) -> None:
        """Close the agent's socket wherever it is, with 4003."""
        await self.broker.publish(
            agent_topic(agent_uuid), orjson.dumps({"kind": "close", "code": CLOSE_REVOKED})
        )

    def _on_control(self, data: bytes) -> None:
        message = orjson.loads(data)
        if message.get("kind") == "revoke_account":
            for session in tuple(self.sessions.get(message["uuid"], ())):
                session.close(CLOSE_REVOKED, "credentials revoked")

    # ---- agents -----------------------------------------------------------------------------------------

    async def add_agent(self, agent: AgentConnection) -> None:
        """Make ``agent`` the connection of its agent: replace any older one, go online, tell the owner."""
        # Tell whichever instance holds an older connection to close it (4000) before we take the topic.
        old = self.agents.get(agent.agent_uuid)
        if old is not None:
            old.close(CLOSE_REPLACED, "replaced by a newer connection")
        else:
            await self.broker.publish(
                agent_topic(agent.agent_uuid), orjson.dumps({"kind": "close", "code": CLOSE_REPLACED})
            )
        self.agents[agent.agent_uuid] = agent
        agent_uuid = agent.agent_uuid
        await self.broker.subscribe(
            agent_topic(agent_uuid), lambda data: self._on_agent_topic(agent_uuid, data)
        )
        presence = {
            "instance": self.broker.instance_id,
            "name": agent.agent_name,
            "account": agent.account_uuid,
        }
        await self.broker.set_presence(agent_uuid, orjson.dumps(presence))
        await self.to_account(
            agent.account_uuid, "agent_status", agent_status_body(agent_uuid, agent.agent_name, "online")
        )

    async def remove_agent(self, agent: AgentConnection) -> None:
        """The agent's connection ended: unless replaced, it goes offline and its printers unavailable."""
        try:
            await persist.flush(self.context, agent)
        except Exception:  # the statuses are lost, not the disconnect handling
            logger.warning("could not persist final status of agent %s", agent.agent_uuid, exc_info=True)
        for request_id, reply_to in list(agent.forwarded.items()):
            await self.reply(reply_to, request_id, {"status": "ERROR", "message": "agent disconnected"})
        agent.forwarded.clear()
        if self.agents.get(agent.agent_uuid) is not agent:
            return  # replaced on this instance: the newer connection owns presence and topic
        del self.agents[agent.agent_uuid]
        await self.broker.unsubscribe(agent_topic(agent.agent_uuid))
        if agent.close_code == CLOSE_REPLACED:
            return  # replaced on another instance, which has already said "online"
        await self.broker.clear_presence(agent.agent_uuid)
        await self.broker.clear_printer_statuses(agent.agent_uuid)
        await self.to_account(
            agent.account_uuid,
            "agent_status",
            agent_status_body(agent.agent_uuid, agent.agent_name, "offline"),
        )
        for printer_uuid, status in agent.printers.items():
            await self.to_account(
                agent.account_uuid,
                "printer_status",
                {
                    "agent_uuid": agent.agent_uuid,
                    "printer_uuid": printer_uuid,
                    "printer_identifier": status.printer_identifier,
                    "status": "unavailable",
                },
            )

    def _on_agent_topic(self, agent_uuid: str, data: bytes) -> None:
        agent = self.agents.get(agent_uuid)
        if agent is None:
            return
        message = orjson.loads(data)
        if message["kind"] == "close":
            reason = (
                "credentials revoked"
                if message["code"] == CLOSE_REVOKED
                else "replaced by a newer connection"
            )
            agent.close(message["code"], reason)
        elif message["kind"] == "command":
            agent.forwarded[message["rid"]] = message["reply_to"]
            agent.send(message["frame"])

    # ---- commands ---------------------------------------------------------------------------------------

    async def command(self, agent_uuid: str, message_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """Send a command to the agent wherever it is connected and wait for its acknowledgement."""
        request_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        message = {
            "kind": "command",
            "rid": request_id,
            "reply_to": self.broker.instance_id,
            "frame": frame(message_type, body, request_id),
        }
        try:
            try:
                delivered = await self.broker.publish(agent_topic(agent_uuid), orjson.dumps(message))
            except Exception as exc:
                raise Unavailable("cannot reach the agent right now (broker unavailable)") from exc
            if not delivered:
                return {"status": "ERROR", "message": "agent is offline"}
            try:
                async with asyncio.timeout(self.context.settings.command_timeout):
                    return await future
            except TimeoutError:
                timeout = self.context.settings.command_timeout
                return {"status": "ERROR", "message": f"agent did not answer within {timeout:g} s"}
        finally:
            self.pending.pop(request_id, None)

    async def reply(self, instance_id: str, request_id: str, ack: dict[str, Any]) -> None:
        """Send an agent's acknowledgement back to the instance that asked."""
        await self.broker.publish(instance_topic(instance_id), orjson.dumps({"rid": request_id, "ack": ack}))

    def _on_reply(self, data: bytes) -> None:
        message = orjson.loads(data)
        future = self.pending.get(message["rid"])
        if future is not None and not future.done():
            future.set_result(message["ack"])


def agent_status_body(agent_uuid: str, agent_name: str, status: str) -> dict[str, Any]:
    """``agent_status`` data with both spec spellings of the name (DESIGN.md)."""
    return {
        "agent_name": agent_name,
        "agent_identifier": agent_name,
        "agent_uuid": agent_uuid,
        "status": status,
    }


async def close_quietly(connection: Connection, code: int, reason: str) -> None:
    """Close and wait for the writer."""
    connection.close(code, reason)
    with contextlib.suppress(Exception):
        await connection.finish()
