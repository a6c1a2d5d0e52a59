"""Several backend instances sharing PostgreSQL, Redis and file storage: real processes, real clients.

The cluster: instances A and B on one fresh PostgreSQL database, a ``redis-server`` of its own on a free
port (one test kills and restarts it: the machine's Redis is shared and never shut down), S3 storage on
a moto server and the same JWT secret. Tests run in file order; the last cluster test kills B.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import need
from tests.relay_helpers import ScriptedAgent, connect_agent, create_agent, is_type
from tests.servers import (
    Api,
    ServerProcess,
    WsClient,
    agent_ws,
    closed_with,
    postgres_available,
    postgres_database,
    register,
    user_ws,
)
from tests.test_redis_broker import PrivateRedis
from tests.test_s3 import CREDENTIALS, make_bucket, moto_s3


@dataclass
class Cluster:
    """Shared configuration and the instances started with it."""

    env: dict[str, str]
    servers: list[ServerProcess] = field(default_factory=list)

    def spawn(self) -> ServerProcess:
        """Start one more instance (sequentially: migrations run at start)."""
        server = ServerProcess(dict(self.env)).start()
        self.servers.append(server)
        return server

    def shutdown(self) -> None:
        """Stop every instance and check none logged a traceback."""
        for server in self.servers:
            server.stop()
        for server in self.servers:
            server.assert_no_traceback()
            if not os.environ.get("PRINTERLYNX_KEEP_TEST_DIRS"):
                shutil.rmtree(server.data_dir, ignore_errors=True)


def _base_env(database_url: str, broker_url: str, storage_url: str) -> dict[str, str]:
    return {
        "PRINTERLYNX_DATABASE_URL": database_url,
        "PRINTERLYNX_BROKER_URL": broker_url,
        "PRINTERLYNX_STORAGE_URL": storage_url,
        "PRINTERLYNX_JWT_SECRET": secrets.token_urlsafe(48),
        **CREDENTIALS,
    }


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """One shared PostgreSQL database for every instance of this module."""
    need("PostgreSQL", postgres_available())
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def private_redis() -> Iterator[PrivateRedis]:
    """The cluster's own ``redis-server`` (one test kills and restarts it; the machine's is shared)."""
    need("redis-server", shutil.which("redis-server") is not None)
    server = PrivateRedis()
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def cluster(database_url: str, private_redis: PrivateRedis) -> Iterator[Cluster]:
    """Instances A and B on PostgreSQL + Redis + S3 (moto)."""
    with moto_s3() as endpoint:
        bucket = make_bucket(endpoint)
        prefix = f"plxtest{uuid.uuid4().hex[:10]}"
        env = _base_env(
            database_url,
            f"{private_redis.url}?prefix={prefix}",
            f"s3://{bucket}?endpoint={endpoint}&region=us-east-1",
        )
        group = Cluster(env)
        try:
            group.spawn()
            group.spawn()
            yield group
        finally:
            group.shutdown()


def _command(dashboard: WsClient, agent: ScriptedAgent, printer: str, request_id: str) -> None:
    dashboard.send(
        "printer_command",
        {"agent_uuid": agent.info.uuid, "printer_uuid": printer, "command": "G28"},
        request_id,
    )


def test_command_on_a_reaches_agent_on_b_and_its_ack_returns(cluster: Cluster) -> None:
    a, b = cluster.servers[:2]
    api = register(a)
    dashboard = user_ws(a, api.token)
    agent = connect_agent(b, create_agent(api))
    printer = agent.printers[0]
    dashboard.recv_until(is_type("printer_status", printer_uuid=printer))
    _command(dashboard, agent, printer, "cmd-1")
    forwarded = agent.expect_command("printer_command")
    assert forwarded["data"] == {"printer_uuid": printer, "command": "G28"}
    agent.ack(forwarded)
    reply = dashboard.recv_until(lambda m: m.get("id") == "cmd-1")
    assert reply == {"type": "printer_command", "data": {"status": "OK"}, "id": "cmd-1"}
    _command(dashboard, agent, printer, "cmd-2")
    agent.ack(agent.expect_command("printer_command"), "ERROR", "printer is heating")
    reply = dashboard.recv_until(lambda m: m.get("id") == "cmd-2")
    assert reply["data"] == {"status": "ERROR", "message": "printer is heating"}
    agent.close()
    dashboard.close()


def test_status_fans_out_to_both_instances_and_snapshots_agree(cluster: Cluster) -> None:
    a, b = cluster.servers[:2]
    api = register(a)
    on_a, on_b = user_ws(a, api.token), user_ws(b, api.token)
    info = create_agent(api, "Garage")
    agent = connect_agent(b, info, printers=2)
    for dashboard in (on_a, on_b):
        dashboard.recv_until(is_type("agent_status", status="online", agent_uuid=info.uuid))
        for printer in agent.printers:
            dashboard.recv_until(is_type("printer_status", printer_uuid=printer))
    agent.report(agent.printers[0], "busy")
    for dashboard in (on_a, on_b):
        dashboard.recv_until(is_type("printer_status", printer_uuid=agent.printers[0], status="busy"))
    time.sleep(0.3)  # the status cache is written right after the fan-out
    snapshots = []
    for server in (a, b):
        fresh = user_ws(server, api.token)
        snapshots.append(fresh.drain(0.5))
        fresh.close()
    assert snapshots[0] == snapshots[1]
    assert [m["data"]["status"] for m in snapshots[0] if m["type"] == "agent_status"] == ["online"]
    assert len([m for m in snapshots[0] if m["type"] == "printer_status"]) == 2
    assert Api(a, api.token).get(f"/api/v1/agents/{info.uuid}").json()["online"] is True
    agent.close()
    for dashboard in (on_a, on_b):
        dashboard.recv_until(is_type("agent_status", status="offline", agent_uuid=info.uuid))
        dashboard.close()


def test_logout_on_a_closes_the_session_on_b_4003(cluster: Cluster) -> None:
    a, b = cluster.servers[:2]
    api = register(a)
    on_b = user_ws(b, api.token)
    assert api.post("/api/v1/auth/logout").status_code == 204
    assert closed_with(on_b) == 4003


def test_token_rotation_on_a_closes_the_agent_on_b_4003(cluster: Cluster) -> None:
    a, b = cluster.servers[:2]
    api = register(a)
    info = create_agent(api)
    dashboard = user_ws(a, api.token)
    agent = agent_ws(b, info.token)
    dashboard.recv_until(is_type("agent_status", status="online"))
    assert api.post(f"/api/v1/agents/{info.uuid}/token").status_code == 200
    assert closed_with(agent) == 4003
    dashboard.recv_until(is_type("agent_status", status="offline"))
    dashboard.close()


def test_agent_replaced_across_instances_4000_and_stays_online(cluster: Cluster) -> None:
    a, b = cluster.servers[:2]
    api = register(a)
    info = create_agent(api)
    dashboard = user_ws(a, api.token)
    dashboard.drain(0.1)
    first = agent_ws(a, info.token)
    dashboard.recv_until(is_type("agent_status", status="online"))
    second = agent_ws(b, info.token)
    assert closed_with(first) == 4000
    dashboard.recv_until(is_type("agent_status", status="online"))
    assert not [m for m in dashboard.drain(0.5) if m["data"].get("status") == "offline"]
    for server in (a, b):
        snapshot = user_ws(server, api.token)
        statuses = [m["data"]["status"] for m in snapshot.drain(0.3) if m["type"] == "agent_status"]
        assert statuses == ["online"]
        snapshot.close()
        assert Api(server, api.token).get(f"/api/v1/agents/{info.uuid}").json()["online"] is True
    second.close()
    dashboard.recv_until(is_type("agent_status", status="offline"))
    dashboard.close()


def test_file_uploaded_through_a_downloads_through_b(cluster: Cluster) -> None:
    a, b = cluster.servers[:2]
    _upload_and_download(a, b)


def _upload_and_download(a: ServerProcess, b: ServerProcess) -> None:
    api = register(a)
    data = b"; generated by test\nG28\n" + b"G1 X10 Y10 E0.5\n" * 20000
    response = api.post("/api/v1/printfiles", files={"file": ("cube.gcode", data, "text/x.gcode")})
    if response.status_code == 404:
        pytest.skip("POST /api/v1/printfiles is not there yet")
    assert response.status_code == 201, response.text
    file_uuid = response.json()["uuid"]
    on_b = Api(b, api.token)
    download = on_b.get(f"/api/v1/printfiles/{file_uuid}/download")
    assert download.status_code == 200 and download.content == data
    partial = on_b.get(f"/api/v1/printfiles/{file_uuid}/download", headers={"Range": "bytes=10-99"})
    assert partial.status_code == 206 and partial.content == data[10:100]
    assert on_b.delete(f"/api/v1/printfiles/{file_uuid}").status_code == 204
    assert api.get(f"/api/v1/printfiles/{file_uuid}/download").status_code == 404


def _wait_health(server: ServerProcess, status: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(server.url + "/health", timeout=2).status_code == status:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"/health of {server.url} did not become {status}")
        time.sleep(0.1)


def test_redis_restart_instances_recover_and_commands_error_meanwhile(
    cluster: Cluster, private_redis: PrivateRedis
) -> None:
    a, b = cluster.servers[:2]
    api = register(a)
    dashboard = user_ws(a, api.token)
    agent = connect_agent(b, create_agent(api))
    printer = agent.printers[0]
    leaving = connect_agent(b, create_agent(api, "Leaving"))
    dashboard.recv_until(is_type("printer_status", printer_uuid=leaving.printers[0]))

    private_redis.kill()
    _wait_health(a, 503)
    _command(dashboard, agent, printer, "during-outage")
    reply: dict[str, Any] = dashboard.recv_until(lambda m: m.get("id") == "during-outage")
    assert reply["data"]["status"] == "ERROR" and "unavailable" in reply["data"]["message"]
    # Newcomers are told to try again later (1013); an agent leaving now is announced when Redis is back.
    assert closed_with(user_ws(a, api.token)) == 1013
    assert closed_with(agent_ws(b, create_agent(api).token)) == 1013
    leaving.close()

    private_redis.start()  # empty: presence and statuses must be rebuilt by the instances
    _wait_health(a, 200)
    _wait_health(b, 200)
    snapshot = user_ws(a, api.token)
    messages = snapshot.drain(0.5)
    online = [m["data"]["agent_uuid"] for m in messages if m["data"].get("status") == "online"]
    assert online == [agent.info.uuid]
    assert [m["data"]["printer_uuid"] for m in messages if m["type"] == "printer_status"] == [printer]
    snapshot.close()
    gone = is_type("agent_status", status="offline", agent_uuid=leaving.info.uuid)
    dashboard.recv_until(gone, 30)  # the next presence sweep (every 10 s)
    unavailable = dashboard.recv_until(is_type("printer_status", printer_uuid=leaving.printers[0]), 5)
    assert unavailable["data"]["status"] == "unavailable"
    _command(dashboard, agent, printer, "after-outage")
    agent.ack(agent.expect_command("printer_command"))
    reply = dashboard.recv_until(lambda m: m.get("id") == "after-outage")
    assert reply["data"] == {"status": "OK"}
    agent.report(printer, "busy")
    dashboard.recv_until(is_type("printer_status", printer_uuid=printer, status="busy"))
    agent.close()
    dashboard.close()


def test_killed_instance_its_agent_goes_offline_then_back_on_a(cluster: Cluster) -> None:
    # Last test of the cluster: B does not come back.
    a, b = cluster.servers[:2]
    api = register(a)
    info = create_agent(api, "Doomed")
    dashboard = user_ws(a, api.token)
    agent = connect_agent(b, info)
    dashboard.recv_until(is_type("printer_status", printer_uuid=agent.printers[0]))
    b.kill()  # SIGKILL: no goodbye, presence is left behind in Redis
    # Heartbeat TTL 15 s + sweep every 10 s: ~25 s at worst; generous here for a loaded machine.
    offline = dashboard.recv_until(is_type("agent_status", status="offline", agent_uuid=info.uuid), 60)
    assert offline["data"]["agent_identifier"] == "Doomed"
    gone = dashboard.recv_until(is_type("printer_status", printer_uuid=agent.printers[0]), 5)
    assert gone["data"]["status"] == "unavailable"
    back = connect_agent(a, info)
    dashboard.recv_until(is_type("agent_status", status="online", agent_uuid=info.uuid))
    back.close()
    dashboard.close()


def test_file_uploaded_through_a_downloads_through_b_shared_directory(database_url: str) -> None:
    shared_dir = tempfile.mkdtemp(prefix="plx-shared-")
    group = Cluster(_base_env(database_url, "memory://", f"file://{shared_dir}"))
    try:
        a, b = group.spawn(), group.spawn()
        _upload_and_download(a, b)
    finally:
        group.shutdown()
        shutil.rmtree(shared_dir, ignore_errors=True)
