"""Fuzzing inbound messages on both endpoints: the server stays up, answers, and nothing leaks."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.relay_helpers import connect_agent, create_agent
from tests.servers import ServerProcess, WsClient, agent_ws, register, user_ws

KEYS = [
    "type",
    "agent_uuid",
    "printer_uuid",
    "print_file_uuid",
    "command",
    "status",
    "job",
    "state",
    "token",
    "message",
    "progress",
    "printer_identifier",
    "lines",
    "temperature",
]
TYPES = [
    "authentication",
    "print_job",
    "printer_command",
    "agent_status",
    "printer_status",
    "printer_response",
    "START",
    "PAUSE",
    "",
    "error",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(
        [str(uuid.uuid4()), "START", "CANCEL", "available", "busy", "G28", "N1 G28*18", "M112\n"]
    ),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=5),
    ),
    max_leaves=20,
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(TYPES) | st.text(max_size=70) | scalars,
        "data": st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6) | json_values,
        "id": st.text(max_size=70) | st.integers(min_value=-(2**60), max_value=2**60) | scalars,
    },
)
frames = st.one_of(envelopes.map(json.dumps), st.text(max_size=200), st.binary(max_size=64))


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[ServerProcess]:
    """A server without rate limits, so every frame is processed."""
    process = ServerProcess(
        {
            "PRINTERLYNX_WS_RATE_PER_SECOND": "100000",
            "PRINTERLYNX_WS_RATE_BURST": "100000",
            "PRINTERLYNX_COMMAND_TIMEOUT": "0.2",
        }
    ).start()
    yield process
    process.stop()
    process.assert_no_traceback()
    shutil.rmtree(process.data_dir, ignore_errors=True)


class Session:
    """A connection that is re-opened if a frame legitimately closed it."""

    def __init__(self, open_: Any) -> None:
        self.open = open_
        self.client: WsClient = open_()

    def probe(self) -> None:
        """Ask something that always gets an answer and wait for it: the server is alive and in order."""
        probe_id = uuid.uuid4().hex
        try:
            self.client.send("fuzz-probe", {}, probe_id)
            self.client.recv_until(lambda m: m.get("id") == probe_id, timeout=10)
        except Exception:
            self.client = self.open()
            self.client.send("fuzz-probe", {}, probe_id)
            self.client.recv_until(lambda m: m.get("id") == probe_id, timeout=10)


@pytest.fixture(scope="module")
def fuzz_world(fuzz_server: ServerProcess) -> Iterator[dict[str, Any]]:
    """A fuzzed user and agent, plus a bystander account whose dashboard must never hear anything."""
    api = register(fuzz_server)
    bystander = register(fuzz_server)
    create_agent(bystander, "bystander")
    info = create_agent(api)
    agent = connect_agent(fuzz_server, info)
    watcher = user_ws(fuzz_server, bystander.token)
    watcher.drain(0.2)
    world = {
        "user": Session(lambda: user_ws(fuzz_server, api.token)),
        "agent": Session(lambda: agent_ws(fuzz_server, info.token)),
        "watcher": watcher,
    }
    yield world
    assert watcher.drain(0.5) == [], "a fuzzed message reached another account"
    world["user"].client.close()
    world["agent"].client.close()
    agent.close()
    watcher.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames)
def test_user_endpoint_survives_anything(fuzz_world: dict[str, Any], frame: str | bytes) -> None:
    session: Session = fuzz_world["user"]
    session.client.send_raw(frame)
    session.probe()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames)
def test_agent_endpoint_survives_anything(fuzz_world: dict[str, Any], frame: str | bytes) -> None:
    session: Session = fuzz_world["agent"]
    session.client.send_raw(frame)
    session.probe()
