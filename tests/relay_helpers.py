"""Helpers for relay tests: an account with an agent and a scripted agent speaking the protocol."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.servers import Api, ServerProcess, WsClient, agent_ws


@dataclass
class AgentInfo:
    """An agent created through REST."""

    uuid: str
    name: str
    token: str


def create_agent(api: Api, name: str = "Workshop") -> AgentInfo:
    """``POST /api/v1/agents``."""
    response = api.post("/api/v1/agents", json={"name": name, "description": "test"})
    assert response.status_code == 201, response.text
    body = response.json()
    return AgentInfo(body["uuid"], body["name"], body["token"])


def printer_status(
    printer_uuid: str, status: str = "available", job: dict[str, Any] | None = None, name: str = "MK3"
) -> dict[str, Any]:
    """A spec-shaped ``printer_status`` body as an agent sends it."""
    body: dict[str, Any] = {
        "printer_uuid": printer_uuid,
        "printer_identifier": name,
        "printer_adapter_identifier": "SERIAL",
        "printer_adapter_interface": "/dev/ttyUSB0",
        "status": status,
        "job": job,
        "state": {"temperature": {"bed": 60.0, "tool0": 210.0}},
    }
    return body


@dataclass
class ScriptedAgent:
    """A real agent WebSocket client driven by the test."""

    client: WsClient
    info: AgentInfo
    printers: list[str] = field(default_factory=list)

    def report(self, printer_uuid: str, status: str = "available", job: dict[str, Any] | None = None) -> None:
        """Send one printer_status."""
        self.client.send("printer_status", printer_status(printer_uuid, status, job))

    def expect_command(self, message_type: str, timeout: float = 10) -> dict[str, Any]:
        """Wait for a forwarded command of this type."""
        return self.client.recv_until(lambda m: m["type"] == message_type and "id" in m, timeout)

    def ack(self, command: dict[str, Any], status: str = "OK", message: str | None = None) -> None:
        """Acknowledge a forwarded command."""
        data: dict[str, Any] = {"status": status}
        if message is not None:
            data["message"] = message
        self.client.send(command["type"], data, command["id"])

    def close(self) -> None:
        """Disconnect."""
        self.client.close()


def connect_agent(server: ServerProcess, info: AgentInfo, printers: int = 1) -> ScriptedAgent:
    """Connect an agent and report ``printers`` available printers."""
    agent = ScriptedAgent(agent_ws(server, info.token), info, [str(uuid.uuid4()) for _ in range(printers)])
    for printer_uuid in agent.printers:
        agent.report(printer_uuid)
    return agent


def is_type(message_type: str, **data: Any) -> Any:
    """Predicate: a message of this type whose data contains ``data``."""

    def predicate(message: dict[str, Any]) -> bool:
        if message.get("type") != message_type:
            return False
        body = message.get("data") or {}
        return all(body.get(key) == value for key, value in data.items())

    return predicate
