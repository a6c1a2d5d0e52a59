"""Limits and close codes: auth deadline, frame size, rate, pings, slow consumers, replacement, revocation."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import struct
import time
from collections.abc import Iterator

import orjson
import pytest
from websockets.exceptions import InvalidStatus

from tests.relay_helpers import connect_agent, create_agent, is_type
from tests.servers import Api, ServerProcess, WsClient, agent_ws, closed_with, register, user_ws


@pytest.fixture(scope="module")
def tight() -> Iterator[ServerProcess]:
    """A server with small limits so each can be hit quickly."""
    process = ServerProcess(
        {
            "PRINTERLYNX_WS_AUTH_TIMEOUT": "1",
            "PRINTERLYNX_COMMAND_TIMEOUT": "1",
            "PRINTERLYNX_WS_RATE_PER_SECOND": "5",
            "PRINTERLYNX_WS_RATE_BURST": "10",
            "PRINTERLYNX_WS_PING_INTERVAL": "0.5",
            "PRINTERLYNX_WS_PING_TIMEOUT": "0.5",
            "PRINTERLYNX_ALLOWED_ORIGINS": "http://allowed.example",
        }
    ).start()
    yield process
    process.stop()
    process.assert_no_traceback()
    shutil.rmtree(process.data_dir, ignore_errors=True)


def test_authentication_deadline_closes_4001(tight: ServerProcess) -> None:
    assert closed_with(user_ws(tight)) == 4001
    assert closed_with(agent_ws(tight)) == 4001


def test_failed_authentication_closes_1008(tight: ServerProcess) -> None:
    client = agent_ws(tight)
    client.send("authentication", {"token": "plx_nope"})
    assert client.recv()["data"]["status"] == "error"
    assert closed_with(client) == 1008


def test_oversized_message_closes_1009(tight: ServerProcess) -> None:
    api = register(tight)
    client = user_ws(tight, api.token)
    client.send_raw(orjson.dumps({"type": "printer_command", "data": {"command": "x" * 70_000}}).decode())
    assert closed_with(client) == 1009


def test_rate_limit_answers_error_and_recovers(tight: ServerProcess) -> None:
    api = register(tight)
    client = user_ws(tight, api.token)
    client.drain(0.1)
    for index in range(30):
        client.send("ping?", {}, index)
    replies = [client.recv() for _ in range(30)]
    limited = [reply for reply in replies if "rate limit" in reply["data"]["message"]]
    assert limited, replies
    time.sleep(1.0)
    client.send("ping?", {}, "later")
    assert "unknown message type" in client.recv()["data"]["message"]
    client.close()


def test_agent_that_does_not_answer_times_out(tight: ServerProcess) -> None:
    api = register(tight)
    info = create_agent(api)
    agent = connect_agent(tight, info)
    dashboard = user_ws(tight, api.token)
    dashboard.recv_until(is_type("printer_status"))
    dashboard.send(
        "printer_command",
        {"agent_uuid": info.uuid, "printer_uuid": agent.printers[0], "command": "G28"},
        "slow",
    )
    agent.expect_command("printer_command")  # received, never acknowledged
    reply = dashboard.recv_until(lambda m: m.get("id") == "slow")
    assert reply["data"] == {"status": "ERROR", "message": "agent did not answer within 1 s"}
    agent.close()
    dashboard.close()


def test_origin_is_checked(tight: ServerProcess) -> None:
    with pytest.raises(InvalidStatus):
        WsClient(tight.ws_url + "/api/v1/ws", origin="http://evil.example")
    WsClient(tight.ws_url + "/api/v1/ws", origin="http://allowed.example").close()


def _raw_agent_socket(server: ServerProcess, token: str) -> socket.socket:
    """A WebSocket opened by hand that authenticates and then never reads again (so never answers pings)."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /api/v1/ws/agent HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(4096)
    assert b" 101 " in response.split(b"\r\n", 1)[0]
    payload = orjson.dumps({"type": "authentication", "data": {"token": token}})
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    sock.sendall(
        bytes([0x81, 0x80 | len(payload)]) + mask + masked
        if len(payload) < 126
        else bytes([0x81, 0x80 | 126]) + struct.pack("!H", len(payload)) + mask + masked
    )
    return sock


def test_agent_that_stops_answering_pings_goes_offline(tight: ServerProcess) -> None:
    api = register(tight)
    info = create_agent(api)
    dashboard = user_ws(tight, api.token)
    dashboard.drain(0.1)
    sock = _raw_agent_socket(tight, info.token)
    dashboard.recv_until(is_type("agent_status", status="online"))
    offline = dashboard.recv_until(is_type("agent_status", status="offline"), timeout=10)
    assert offline["data"]["agent_uuid"] == info.uuid
    sock.close()
    dashboard.close()


def test_newer_agent_connection_replaces_older_4000(server: ServerProcess, api: Api) -> None:
    info = create_agent(api)
    dashboard = user_ws(server, api.token)
    dashboard.drain(0.1)
    first = agent_ws(server, info.token)
    dashboard.recv_until(is_type("agent_status", status="online"))
    second = agent_ws(server, info.token)
    assert closed_with(first) == 4000
    dashboard.recv_until(is_type("agent_status", status="online"))
    assert not [m for m in dashboard.drain(0.3) if m["data"].get("status") == "offline"]
    assert api.get(f"/api/v1/agents/{info.uuid}").json()["online"] is True
    second.close()
    dashboard.recv_until(is_type("agent_status", status="offline"))
    dashboard.close()


def test_rotation_and_deletion_close_the_agent_4003(server: ServerProcess, api: Api) -> None:
    info = create_agent(api)
    dashboard = user_ws(server, api.token)
    agent = agent_ws(server, info.token)
    dashboard.recv_until(is_type("agent_status", status="online"))
    rotated = api.post(f"/api/v1/agents/{info.uuid}/token").json()
    assert rotated["token"] != info.token and rotated["token"].startswith("plx_")
    assert closed_with(agent) == 4003
    dashboard.recv_until(is_type("agent_status", status="offline"))
    old = agent_ws(server)
    old.send("authentication", {"token": info.token})
    assert old.recv()["data"]["status"] == "error"
    old.close()
    agent = agent_ws(server, rotated["token"])
    dashboard.recv_until(is_type("agent_status", status="online"))
    assert api.delete(f"/api/v1/agents/{info.uuid}").status_code == 204
    assert closed_with(agent) == 4003
    dashboard.recv_until(is_type("agent_status", status="offline"))
    dashboard.close()


def test_logout_and_password_change_close_user_sockets_4003(server: ServerProcess) -> None:
    api = register(server)
    first, second = user_ws(server, api.token), user_ws(server, api.token)
    assert api.post("/api/v1/auth/logout").status_code == 204
    assert closed_with(first) == 4003
    assert closed_with(second) == 4003
    login = server.http.post("/api/v1/auth/login", json={"username": api.username, "password": api.password})
    api = Api(server, login.json()["token"])
    client = user_ws(server, api.token)
    response = api.put(
        "/api/v1/accounts/me/password",
        json={
            "old_password": api_password(login),
            "password": "another good one",
            "password_confirmation": "another good one",
        },
    )
    assert response.status_code == 200, response.text
    assert closed_with(client) == 4003
    fresh = Api(server, response.json()["token"])
    assert fresh.get("/api/v1/accounts/me").status_code == 200
    assert api.get("/api/v1/accounts/me").status_code == 401


def api_password(_login: object) -> str:
    """The password ``register`` uses by default."""
    return "correct horse battery"


def test_account_deletion_closes_everything(server: ServerProcess) -> None:
    api = register(server)
    info = create_agent(api)
    dashboard = user_ws(server, api.token)
    agent = agent_ws(server, info.token)
    dashboard.recv_until(is_type("agent_status", status="online"))
    assert api.delete("/api/v1/accounts/me").status_code == 204
    assert closed_with(dashboard) == 4003
    assert closed_with(agent) == 4003
    assert api.get("/api/v1/accounts/me").status_code == 401


def test_slow_consumer_is_dropped_without_slowing_others() -> None:
    process = ServerProcess(
        {
            "PRINTERLYNX_WS_SEND_QUEUE": "64",
            "PRINTERLYNX_WS_RATE_PER_SECOND": "100000",
            "PRINTERLYNX_WS_RATE_BURST": "100000",
        }
    ).start()
    try:
        api = register(process)
        info = create_agent(api)
        agent = connect_agent(process, info)
        # A tiny receive buffer and no reading: the server's queue for this client fills quickly.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", process.port))
        stuck = WsClient(process.ws_url + "/api/v1/ws", max_queue=1, sock=sock)
        stuck.send("authentication", {"token": api.token})
        # This one reads all the time (an unbounded client-side queue keeps its socket drained).
        reader = user_ws(process, api.token, max_queue=None)
        padding = "x" * 200
        for index in range(20_000):
            agent.client.send(
                "printer_status",
                {
                    "printer_uuid": agent.printers[0],
                    "status": "available",
                    "printer_identifier": f"{index}{padding}",
                },
            )
        # The reading dashboard got the last status; the stuck one was dropped.
        reader.recv_until(lambda m: m["data"].get("printer_identifier") == f"19999{padding}", timeout=60)
        metrics = process.http.get("/metrics").text
        dropped = [
            line
            for line in metrics.splitlines()
            if line.startswith("printerlynx_ws_slow_consumers_dropped_total")
        ]
        assert dropped and float(dropped[0].split()[-1]) >= 1, dropped
        for client in (agent.client, reader):
            client.close()
    finally:
        process.stop()
        process.assert_no_traceback()
        shutil.rmtree(process.data_dir, ignore_errors=True)
