"""The live relay end to end: real server, real user and agent WebSocket clients."""

from __future__ import annotations

import uuid

from tests.relay_helpers import connect_agent, create_agent, is_type
from tests.servers import Api, ServerProcess, agent_ws, user_ws


def test_user_authentication_ok_and_error(server: ServerProcess, api: Api) -> None:
    client = user_ws(server)
    client.send("authentication", {"token": "garbage"})
    reply = client.recv()
    assert reply["type"] == "authentication"
    assert reply["data"]["status"] == "ERROR" and reply["data"]["message"]
    client.close()
    user_ws(server, api.token).close()


def test_agent_authentication_success_and_error(server: ServerProcess, api: Api) -> None:
    info = create_agent(api)
    client = agent_ws(server)
    client.send("authentication", {"token": "plx_wrong"})
    assert client.recv() == {
        "type": "authentication",
        "data": {"status": "error", "message": "Invalid token"},
    }
    client.close()
    # A user JWT is not an agent token, and an agent token is not a user token.
    client = agent_ws(server)
    client.send("authentication", {"token": api.token})
    assert client.recv()["data"] == {"status": "error", "message": "Invalid token"}
    client.close()
    client = user_ws(server)
    client.send("authentication", {"token": info.token})
    assert client.recv()["data"]["status"] == "ERROR"
    client.close()
    agent_ws(server, info.token).close()


def test_agent_status_online_offline_and_snapshot(server: ServerProcess, api: Api) -> None:
    info = create_agent(api, "Garage")
    dashboard = user_ws(server, api.token)
    snapshot = dashboard.recv()
    assert snapshot == {
        "type": "agent_status",
        "data": {
            "agent_name": "Garage",
            "agent_identifier": "Garage",
            "agent_uuid": info.uuid,
            "status": "offline",
        },
    }
    agent = connect_agent(server, info)
    online = dashboard.recv_until(is_type("agent_status", status="online"))
    assert online["data"]["agent_name"] == "Garage" and online["data"]["agent_uuid"] == info.uuid
    status = dashboard.recv_until(is_type("printer_status"))
    assert status["data"]["agent_uuid"] == info.uuid
    assert status["data"]["printer_uuid"] == agent.printers[0]
    assert status["data"]["status"] == "available"
    assert status["data"]["state"]["temperature"] == {"bed": 60.0, "tool0": 210.0}
    # A second dashboard gets the snapshot: agent online, then the printer's last status.
    second = user_ws(server, api.token)
    assert second.recv()["data"]["status"] == "online"
    assert second.recv()["data"]["printer_uuid"] == agent.printers[0]
    agent.close()
    for client in (dashboard, second):
        offline = client.recv_until(is_type("agent_status", status="offline"))
        assert offline["data"]["agent_identifier"] == "Garage"
        gone = client.recv_until(is_type("printer_status"))
        assert gone["data"] == {
            "agent_uuid": info.uuid,
            "printer_uuid": agent.printers[0],
            "printer_identifier": "MK3",
            "status": "unavailable",
        }
        client.close()


def test_agent_uuid_comes_from_the_connection(server: ServerProcess, api: Api, other_api: Api) -> None:
    mine = create_agent(api)
    theirs = create_agent(other_api)
    victim = user_ws(server, other_api.token)
    victim.drain()
    agent = connect_agent(server, mine, printers=0)
    body = {"agent_uuid": theirs.uuid, "printer_uuid": str(uuid.uuid4()), "status": "available"}
    agent.client.send("printer_status", body)
    dashboard = user_ws(server, api.token)
    status = dashboard.recv_until(is_type("printer_status"))
    assert status["data"]["agent_uuid"] == mine.uuid
    assert victim.drain(0.5) == []
    for client in (agent.client, victim, dashboard):
        client.close()


def test_printer_command_is_acknowledged_end_to_end(server: ServerProcess, api: Api) -> None:
    info = create_agent(api)
    agent = connect_agent(server, info)
    dashboard = user_ws(server, api.token)
    dashboard.recv_until(is_type("printer_status"))
    dashboard.send(
        "printer_command",
        {"agent_uuid": info.uuid, "printer_uuid": agent.printers[0], "command": "G28"},
        "req-1",
    )
    forwarded = agent.expect_command("printer_command")
    assert forwarded["data"] == {"printer_uuid": agent.printers[0], "command": "G28"}
    agent.ack(forwarded)
    assert dashboard.recv_until(is_type("printer_command")) == {
        "type": "printer_command",
        "id": "req-1",
        "data": {"status": "OK"},
    }
    dashboard.send(
        "printer_command", {"agent_uuid": info.uuid, "printer_uuid": agent.printers[0], "command": "M999"}, 7
    )
    agent.ack(agent.expect_command("printer_command"), "ERROR", "printer is halted")
    reply = dashboard.recv_until(is_type("printer_command"))
    assert reply == {
        "type": "printer_command",
        "id": 7,
        "data": {"status": "ERROR", "message": "printer is halted"},
    }
    for client in (agent.client, dashboard):
        client.close()


def test_printer_response_reaches_the_owner(server: ServerProcess, api: Api) -> None:
    info = create_agent(api)
    agent = connect_agent(server, info)
    dashboard = user_ws(server, api.token)
    dashboard.recv_until(is_type("printer_status"))
    agent.client.send(
        "printer_response",
        {"printer_uuid": agent.printers[0], "command": "M105", "lines": ["ok T:210.0 /210.0 B:60.0 /60.0"]},
    )
    response = dashboard.recv_until(is_type("printer_response"))
    assert response["data"]["agent_uuid"] == info.uuid
    assert response["data"]["lines"] == ["ok T:210.0 /210.0 B:60.0 /60.0"]
    for client in (agent.client, dashboard):
        client.close()


def test_command_to_offline_agent_fails_at_once(server: ServerProcess, api: Api) -> None:
    info = create_agent(api)
    dashboard = user_ws(server, api.token)
    dashboard.send(
        "printer_command", {"agent_uuid": info.uuid, "printer_uuid": str(uuid.uuid4()), "command": "G28"}, "x"
    )
    reply = dashboard.recv_until(is_type("printer_command"))
    assert reply["id"] == "x"
    assert reply["data"] == {"status": "ERROR", "message": "agent is offline"}
    dashboard.close()
