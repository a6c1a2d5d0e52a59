"""RedisBroker against a real Redis: topics, presence, status cache, sweeps and a Redis restart.

Each test uses its own key/channel prefix on the machine's Redis, or a private ``redis-server`` on a
free port when it must kill and restart Redis (the machine's Redis is shared and never shut down).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest
import redis

from printerlynx.server.broker.redis import RedisBroker
from printerlynx.server.errors import Unavailable
from tests.conftest import need
from tests.servers import REDIS_URL, free_port, redis_available


def _url(prefix: str, base: str = REDIS_URL) -> str:
    return f"{base}?prefix={prefix}"


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition did not become true in time")
        await asyncio.sleep(0.05)


@pytest.fixture
def prefix() -> str:
    """A private namespace on the shared Redis."""
    need("Redis", redis_available())
    return f"plxtest{uuid.uuid4().hex[:10]}"


class PrivateRedis:
    """A ``redis-server`` subprocess on a free port that a test may kill and restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start and wait until it answers."""
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--bind",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.RedisError):
                if redis.Redis(port=self.port, socket_timeout=1).ping():
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("private redis-server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        """Die at once (nothing saved: it comes back empty)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A Redis this test owns."""
    need("redis-server", shutil.which("redis-server") is not None)
    server = PrivateRedis()
    server.start()
    yield server
    server.kill()


def test_topics_count_instances_and_stop_after_unsubscribe(prefix: str) -> None:
    async def scenario() -> None:
        a, b = RedisBroker(_url(prefix)), RedisBroker(_url(prefix))
        await a.start()
        await b.start()
        got_a: list[bytes] = []
        got_b: list[bytes] = []
        assert await a.publish("account:x", b"nobody") == 0
        await a.subscribe("account:x", got_a.append)

        async def async_callback(data: bytes) -> None:
            got_b.append(data)

        await b.subscribe("account:x", async_callback)
        assert await a.publish("account:x", b"hello") == 2
        await _eventually(lambda: _true(got_a == [b"hello"] and got_b == [b"hello"]))
        await b.unsubscribe("account:x")
        assert await b.publish("account:x", b"again") == 1
        await _eventually(lambda: _true(got_a == [b"hello", b"again"]))
        assert got_b == [b"hello"]
        # Another prefix is another world: same topic name, nobody there.
        other = RedisBroker(_url(prefix + "other"))
        await other.start()
        assert await other.publish("account:x", b"elsewhere") == 0
        for broker in (a, b, other):
            await broker.stop()

    asyncio.run(scenario())


async def _true(value: bool) -> bool:
    return value


def test_presence_and_status_cache_compare_and_delete(prefix: str) -> None:
    async def scenario() -> None:
        a, b = RedisBroker(_url(prefix)), RedisBroker(_url(prefix))
        await a.start()
        await b.start()
        agent = str(uuid.uuid4())
        await a.set_presence(agent, b'{"instance": "a"}')
        await a.set_printer_status(agent, "p1", b'{"data": {"printer_identifier": "MK3"}}')
        assert await b.get_presence([agent, "unknown"]) == {agent: b'{"instance": "a"}'}
        assert await b.get_printer_statuses(agent) == {"p1": b'{"data": {"printer_identifier": "MK3"}}'}
        # The agent reconnects to b; a's late clear must not remove b's presence or statuses.
        await b.set_presence(agent, b'{"instance": "b"}')
        await b.set_printer_status(agent, "p1", b'{"data": {"from": "b"}}')
        await a.clear_presence(agent)
        await a.clear_printer_statuses(agent)
        assert await a.get_presence([agent]) == {agent: b'{"instance": "b"}'}
        assert await a.get_printer_statuses(agent) == {"p1": b'{"data": {"from": "b"}}'}
        await b.clear_presence(agent)
        await b.clear_printer_statuses(agent)
        assert await a.get_presence([agent]) == {}
        assert await a.get_printer_statuses(agent) == {}
        # Presence and statuses carry the TTL, and refresh re-creates keys that vanished.
        await a.set_presence(agent, b'{"instance": "a"}')
        await a.set_printer_status(agent, "p1", b"frame")
        raw = redis.Redis.from_url(REDIS_URL)
        keys = raw.keys(f"{prefix}:*{agent}")
        assert len(keys) == 2 and all(0 < raw.ttl(key) <= 60 for key in keys)
        raw.delete(*keys)
        await a.refresh_presence([agent])
        assert await b.get_presence([agent]) == {agent: b'{"instance": "a"}'}
        assert await b.get_printer_statuses(agent) == {"p1": b"frame"}
        # An agent the hub no longer lists is dropped from presence by the refresh.
        await a.refresh_presence([])
        assert await b.get_presence([agent]) == {}
        raw.close()
        await a.stop()
        await b.stop()

    asyncio.run(scenario())


def test_sweep_announces_agents_of_a_dead_instance_once(prefix: str) -> None:
    async def scenario() -> None:
        dead, a, b = (RedisBroker(_url(prefix)) for _ in range(3))
        for broker in (dead, a, b):
            await broker.start()
        agent, moved = str(uuid.uuid4()), str(uuid.uuid4())
        await dead.set_presence(agent, b'{"account": "acc", "name": "Garage"}')
        await dead.set_printer_status(agent, "p1", b'{"data": {"printer_identifier": "MK3"}}')
        await dead.set_presence(moved, b'{"account": "acc", "name": "Moved"}')
        # Kill ``dead`` without any goodbye, then let its heartbeat lapse (deleted here, not waited for).
        for task in dead._tasks:
            task.cancel()
        await b.set_presence(moved, b'{"account": "acc", "name": "Moved", "instance": "b"}')
        raw = redis.Redis.from_url(REDIS_URL)
        assert await a.sweep_presence() == []  # still alive
        raw.delete(f"{prefix}:0:alive:{dead.instance_id}")
        lost = await a.sweep_presence()
        assert [item.agent_uuid for item in lost] == [agent]  # ``moved`` lives on b now
        assert lost[0].presence == b'{"account": "acc", "name": "Garage"}'
        assert lost[0].printer_statuses == {"p1": b'{"data": {"printer_identifier": "MK3"}}'}
        assert await b.sweep_presence() == []  # exactly one sweeper announces
        assert await b.get_presence([agent, moved]) == {
            moved: b'{"account": "acc", "name": "Moved", "instance": "b"}'
        }
        assert await b.get_printer_statuses(agent) == {}
        raw.close()
        for broker in (a, b):
            await broker.stop()
        await dead.stop()  # tidy up the sockets (its heartbeat is already gone)

    asyncio.run(scenario())


def test_redis_restart_reconnects_resubscribes_and_rebuilds(private_redis: PrivateRedis) -> None:
    async def scenario() -> None:
        broker = RedisBroker(private_redis.url)
        await broker.start()
        assert await broker.healthy()
        got: list[bytes] = []
        await broker.subscribe("agent:one", got.append)
        await broker.set_presence("one", b'{"account": "acc", "name": "One"}')
        await broker.set_printer_status("one", "p1", b"frame-1")
        await broker.set_presence("two", b'{"account": "acc", "name": "Two"}')

        private_redis.kill()
        await _eventually(lambda: _not(broker.healthy()))
        with pytest.raises(Unavailable):
            await broker.publish("agent:one", b"command")
        with pytest.raises(Unavailable):
            await broker.get_presence(["one"])
        with pytest.raises(Unavailable):
            await broker.get_printer_statuses("one")
        # Meanwhile: a status changes, agent two leaves. Neither may fail the caller.
        await broker.set_printer_status("one", "p1", b"frame-2")
        await broker.clear_presence("two")
        await broker.clear_printer_statuses("two")

        private_redis.start()  # same port, empty
        await _eventually(broker.healthy, timeout=20)
        assert await broker.get_presence(["one", "two"]) == {"one": b'{"account": "acc", "name": "One"}'}
        assert await broker.get_printer_statuses("one") == {"p1": b"frame-2"}
        assert await broker.publish("agent:one", b"after") == 1
        await _eventually(lambda: _true(got == [b"after"]))
        lost = await broker.sweep_presence()
        assert [item.agent_uuid for item in lost] == ["two"]  # left during the outage: announced now
        assert await broker.sweep_presence() == []
        await broker.stop()

    asyncio.run(scenario())


async def _not(check: Awaitable[bool]) -> bool:
    return not await check


def test_start_without_redis_is_unhealthy_not_fatal() -> None:
    async def scenario() -> None:
        broker = RedisBroker(f"redis://127.0.0.1:{free_port()}/0")
        await broker.start()
        assert not await broker.healthy()
        with pytest.raises(Unavailable):
            await broker.publish("control", b"x")
        await broker.stop()

    asyncio.run(scenario())
