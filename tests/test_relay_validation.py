"""Bad input on both endpoints: every one gets an ERROR reply and the connection stays usable."""

from __future__ import annotations

import uuid

import pytest

from tests.relay_helpers import connect_agent, create_agent, is_type
from tests.servers import Api, ServerProcess, user_ws

U = "7d4ce00f-d60a-4504-96ab-31a83f848722"


@pytest.mark.parametrize(
    ("frame", "reply_type", "needle"),
    [
        ("not json", "error", "not valid JSON"),
        ("[1, 2]", "error", "JSON object"),
        ('{"data": {}}', "error", "type"),
        ('{"type": "launch_missiles", "data": {}}', "error", "unknown message type"),
        ('{"type": "print_job", "data": []}', "print_job", "data must be an object"),
        (
            '{"type": "print_job", "data": {"type": "EXPLODE", "agent_uuid": "%s", "printer_uuid": "%s"}}'
            % (U, U),
            "print_job",
            "type",
        ),
        (
            '{"type": "print_job", "data": {"type": "START", "agent_uuid": "nope", "printer_uuid": "%s"}}'
            % U,
            "print_job",
            "UUID",
        ),
        (
            '{"type": "print_job", "data": {"type": "START", "agent_uuid": "%s", "printer_uuid": "%s"}}'
            % (U, U),
            "print_job",
            "print_file_uuid",
        ),
        (
            '{"type": "printer_command", "data": {"agent_uuid": "%s", "printer_uuid": "%s", "command": "G28\\nM112"}}'
            % (U, U),
            "printer_command",
            "one line",
        ),
        (
            '{"type": "printer_command", "data": {"agent_uuid": "%s", "printer_uuid": "%s", "command": "N5 G28*17"}}'
            % (U, U),
            "printer_command",
            "line numbers",
        ),
        (
            '{"type": "printer_command", "data": {"agent_uuid": "%s", "printer_uuid": "%s", "command": "%s"}}'
            % (U, U, "M117 " + "x" * 200),
            "printer_command",
            "longer than",
        ),
        (
            '{"type": "printer_command", "data": {"agent_uuid": "%s", "printer_uuid": "%s", "command": ""}}'
            % (U, U),
            "printer_command",
            "empty",
        ),
        (
            '{"type": "printer_command", "data": {"agent_uuid": "%s", "printer_uuid": "%s", "command": "G28", "x": 1}}'
            % (U, U),
            "printer_command",
            "Extra inputs",
        ),
        ('{"type": "authentication", "data": {"token": "again"}}', "authentication", "already authenticated"),
    ],
)
def test_bad_user_messages_get_an_error(
    server: ServerProcess, api: Api, frame: str, reply_type: str, needle: str
) -> None:
    client = user_ws(server, api.token)
    client.drain(0.1)
    client.send_raw(frame)
    reply = client.recv()
    assert reply["type"] == reply_type
    assert reply["data"]["status"] == "ERROR"
    assert needle.lower() in reply["data"]["message"].lower(), reply
    # Still usable afterwards.
    client.send("nonsense", {}, "after")
    assert client.recv()["id"] == "after"
    client.close()


def test_request_id_is_echoed_and_validated(server: ServerProcess, api: Api) -> None:
    client = user_ws(server, api.token)
    client.send("printer_command", {"agent_uuid": U}, "abc")
    assert client.recv()["id"] == "abc"
    client.send("printer_command", {"agent_uuid": U}, "x" * 65)
    reply = client.recv()
    assert reply["type"] == "error" and "id must be" in reply["data"]["message"]
    client.close()


def test_another_accounts_agent_is_not_found(server: ServerProcess, api: Api, other_api: Api) -> None:
    theirs = create_agent(other_api)
    agent = connect_agent(server, theirs)
    intruder = user_ws(server, api.token)
    for message_type, data in [
        (
            "printer_command",
            {"agent_uuid": theirs.uuid, "printer_uuid": agent.printers[0], "command": "M112"},
        ),
        ("print_job", {"type": "CANCEL", "agent_uuid": theirs.uuid, "printer_uuid": agent.printers[0]}),
        (
            "print_job",
            {
                "type": "START",
                "agent_uuid": theirs.uuid,
                "printer_uuid": agent.printers[0],
                "print_file_uuid": str(uuid.uuid4()),
            },
        ),
    ]:
        intruder.send(message_type, data, "i")
        reply = intruder.recv_until(is_type(message_type))
        assert reply["data"] == {"status": "ERROR", "message": "agent not found"}
    assert agent.client.drain(0.3) == []  # nothing reached the agent
    for client in (agent.client, intruder):
        client.close()


def test_bad_agent_messages_get_an_error(server: ServerProcess, api: Api) -> None:
    info = create_agent(api)
    agent = connect_agent(server, info, printers=0)
    for frame, needle in [
        ('{"type": "printer_status", "data": {"printer_uuid": "nope", "status": "available"}}', "UUID"),
        ('{"type": "printer_status", "data": {"printer_uuid": "%s", "status": "on fire"}}' % U, "status"),
        (
            '{"type": "printer_status", "data": {"printer_uuid": "%s", "status": "busy", "job": {"progress": 7}}}'
            % U,
            "progress",
        ),
        (
            '{"type": "printer_response", "data": {"printer_uuid": "%s", "lines": ["ok"]}}' % U,
            "unknown printer",
        ),
        ("{", "JSON"),
    ]:
        agent.client.send_raw(frame)
        reply = agent.client.recv()
        assert reply["data"]["status"] == "ERROR"
        assert needle.lower() in reply["data"]["message"].lower(), reply
    agent.close()
