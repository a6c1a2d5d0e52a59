"""Redis broker: topics over pub/sub, presence and the status cache in keys, for several instances.

Layout (every name starts with ``<prefix>:<db>:`` so tests and deployments sharing one Redis do not mix —
pub/sub channels ignore the database number, hence the db in the prefix):

* channel ``…:<topic>`` — one per topic; ``PUBLISH`` answers how many instances got it;
* ``…:presence:<agent>`` — presence data (JSON with ``instance``, ``name``, ``account``), TTL 30 s;
* ``…:status:<agent>`` — hash printer → last ``printer_status`` frame, TTL 60 s (read only with presence);
* ``…:alive:<instance>`` — heartbeat, TTL 15 s; ``…:instances`` — set of instance ids;
  ``…:agents:<instance>`` — hash agent → presence data, what a sweeper needs when the instance died.

The subscriber connection is the health signal: when it drops the broker is unhealthy, publishes and
reads raise ``Unavailable`` (commands get an ERROR, ``/health`` says 503), and a supervisor reconnects
with backoff, resubscribes every topic and rewrites presence and statuses of this instance's agents from
its local copies (a restarted, empty Redis is refilled). Writes that cannot wait (presence, statuses,
clears) are kept locally while Redis is down and replayed on reconnect instead of failing the caller.

Hot path: ``publish`` and ``set_printer_status`` are queued and written by one task as a pipeline, so
thousands of status frames per second cost a few round trips, not thousands.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import uuid
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from printerlynx.server.broker.base import PRESENCE_TTL_SECONDS, LostAgent, TopicCallback
from printerlynx.server.broker.redis_pubsub import PipelineWriter, PubSubConnection
from printerlynx.server.broker.redis_scripts import CLEAR, REFRESH, SWEEP, split_url
from printerlynx.server.errors import Unavailable

logger = logging.getLogger("printerlynx.broker.redis")

ALIVE_TTL_SECONDS = 15
# Statuses outlive presence (they are read only for agents with presence), so that a sweep that comes
# late after an instance died still knows which printers to announce unavailable.
STATUS_TTL_SECONDS = 2 * PRESENCE_TTL_SECONDS
HEARTBEAT_SECONDS = 5.0
AGENTS_HASH_TTL_SECONDS = 24 * 3600
CONNECT_TIMEOUT = 5.0
MAX_BACKOFF_SECONDS = 5.0


class RedisBroker:
    """Topics, presence and status cache in Redis, shared by every backend instance."""

    def __init__(self, url: str) -> None:
        self.instance_id = uuid.uuid4().hex
        redis_url, prefix = split_url(url)
        # One quick retry covers a pooled socket that died with a restarted Redis; no long retry loops:
        # while Redis is down, callers must hear so at once.
        self._client = aioredis.Redis.from_url(
            redis_url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=CONNECT_TIMEOUT,
            retry=Retry(NoBackoff(), 1),
        )
        kwargs = self._client.connection_pool.connection_kwargs
        self._host, self._port = str(kwargs.get("host", "127.0.0.1")), int(kwargs.get("port", 6379))
        self._username, self._password = kwargs.get("username"), kwargs.get("password")
        self._tls = url.startswith("rediss://")
        self._ns = f"{prefix}:{kwargs.get('db', 0)}:"
        self._ns_bytes = self._ns.encode()
        self._callbacks: dict[bytes, TopicCallback] = {}
        self._confirmations: dict[bytes, asyncio.Future[None]] = {}
        self._presence: dict[str, bytes] = {}  # this instance's agents
        self._statuses: dict[str, dict[str, bytes]] = {}  # their last frames, for refills
        # Agents that left while Redis was down: presence data and last frames, announced on reconnect.
        self._pending_clear: dict[str, tuple[bytes, dict[str, bytes]]] = {}
        self._writer = PipelineWriter(self._client, self._unavailable)
        self._connection: PubSubConnection | None = None
        self._connected = False
        self._tasks: list[asyncio.Task[None]] = []
        self._callback_tasks: set[asyncio.Future[Any]] = set()
        self._refresh = self._client.register_script(REFRESH)
        self._clear = self._client.register_script(CLEAR)
        self._sweep = self._client.register_script(SWEEP)

    # ---- keys -------------------------------------------------------------------------------------------

    def _channel(self, topic: str) -> bytes:
        return self._ns_bytes + topic.encode()

    def _presence_key(self, agent_uuid: str) -> str:
        return f"{self._ns}presence:{agent_uuid}"

    def _status_key(self, agent_uuid: str) -> str:
        return f"{self._ns}status:{agent_uuid}"

    @property
    def _agents_key(self) -> str:
        return f"{self._ns}agents:{self.instance_id}"

    # ---- lifecycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (one attempt waited for); if Redis is down, keep trying in the background."""
        ready = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._supervise(ready), name="redis-subscriber"),
            asyncio.create_task(self._writer.run(), name="redis-writer"),
            asyncio.create_task(self._heartbeat_loop(), name="redis-heartbeat"),
        ]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CONNECT_TIMEOUT * 2):
                await ready.wait()
        if not self._connected:
            logger.error("Redis is not reachable at start; retrying in the background (health is 503)")

    async def stop(self) -> None:
        """Stop the tasks; drop this instance's heartbeat so others sweep any agent still listed."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._connected:
            with contextlib.suppress(RedisError, OSError):
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.delete(f"{self._ns}alive:{self.instance_id}")
                    if not self._presence:
                        pipe.delete(self._agents_key)
                        pipe.srem(f"{self._ns}instances", self.instance_id)
                    await pipe.execute()
        self._connected = False
        if self._connection is not None:
            self._connection.close()
        self._callbacks.clear()
        await self._client.aclose()

    async def _supervise(self, ready: asyncio.Event) -> None:
        backoff = 0.1
        while True:
            connection = PubSubConnection(
                self._host,
                self._port,
                username=self._username,
                password=self._password,
                use_tls=self._tls,
                on_message=self._dispatch,
                on_subscribed=self._confirmed,
            )
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    await connection.connect()
                self._connection = connection
                reader = asyncio.create_task(connection.run())
                try:
                    await self._subscribe_all(connection)
                    await self._resync()
                    self._connected, backoff = True, 0.1
                    ready.set()
                    logger.info("connected to Redis at %s:%d", self._host, self._port)
                    await reader
                finally:
                    reader.cancel()
            except asyncio.CancelledError:
                connection.close()
                raise
            except (OSError, RedisError, TimeoutError) as exc:
                # A warning without traceback: an outage is an operational event, not a bug.
                logger.warning("Redis unavailable (%s); retrying in %.1f s", exc, backoff)
            ready.set()  # the first attempt is over, successful or not
            self._connected = False
            self._connection = None
            connection.close()
            for future in self._confirmations.values():
                if not future.done():
                    future.set_result(None)
            self._confirmations.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _subscribe_all(self, connection: PubSubConnection) -> None:
        channels = list(self._callbacks)
        waits = [self._expect_confirmation(channel) for channel in channels]
        connection.subscribe(channels)
        if waits:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await asyncio.gather(*waits)

    async def _resync(self) -> None:
        """Re-register this instance and rewrite what it owns (a restarted Redis is empty)."""
        await self._beat()
        await self._refresh_owned(list(self._presence))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if self._connected:
                try:
                    await self._beat()
                except (RedisError, OSError) as exc:
                    logger.warning("Redis heartbeat failed: %s", exc)

    async def _beat(self) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.set(f"{self._ns}alive:{self.instance_id}", b"1", ex=ALIVE_TTL_SECONDS)
            pipe.sadd(f"{self._ns}instances", self.instance_id)
            pipe.expire(self._agents_key, AGENTS_HASH_TTL_SECONDS)
            await pipe.execute()

    def _unavailable(self) -> Unavailable:
        return Unavailable("the message broker (Redis) is unavailable; try again shortly")

    # ---- topics -----------------------------------------------------------------------------------------

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        callback = self._callbacks.get(channel)
        if callback is None:
            return  # unsubscribed while the message was in flight
        try:
            result = callback(data)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._callback_tasks.add(task)
                task.add_done_callback(self._callback_tasks.discard)
        except Exception:  # a bug in one callback must not stop delivery to every other topic
            logger.exception("broker callback for %r failed", channel)

    def _confirmed(self, channel: bytes) -> None:
        future = self._confirmations.pop(channel, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _expect_confirmation(self, channel: bytes) -> asyncio.Future[None]:
        future = self._confirmations.get(channel)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._confirmations[channel] = future
        return future

    async def publish(self, topic: str, data: bytes) -> int:
        """``PUBLISH`` (pipelined with everything else queued); raises ``Unavailable`` while Redis is down."""
        if not self._connected:
            raise self._unavailable()
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._writer.enqueue(("PUBLISH", self._channel(topic), data), future)
        return await future

    async def subscribe(self, topic: str, callback: TopicCallback) -> None:
        """Register the callback and wait for Redis to confirm (resubscribed by itself after outages)."""
        channel = self._channel(topic)
        known = channel in self._callbacks
        self._callbacks[channel] = callback
        connection = self._connection
        if known or connection is None or not self._connected:
            return
        confirmation = self._expect_confirmation(channel)
        connection.subscribe([channel])
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await asyncio.shield(confirmation)

    async def unsubscribe(self, topic: str) -> None:
        """Stop receiving ``topic`` here."""
        channel = self._channel(topic)
        if self._callbacks.pop(channel, None) is not None and self._connection is not None:
            self._connection.unsubscribe([channel])

    # ---- presence ---------------------------------------------------------------------------------------

    async def _write_presence(self, agent_uuid: str, data: bytes) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.set(self._presence_key(agent_uuid), data, ex=PRESENCE_TTL_SECONDS)
            pipe.hset(self._agents_key, agent_uuid, data)
            await pipe.execute()

    async def set_presence(self, agent_uuid: str, data: bytes) -> None:
        """Online here (a newer connection takes over unconditionally); kept locally for refills."""
        self._presence[agent_uuid] = data
        self._pending_clear.pop(agent_uuid, None)
        if not self._connected:
            return  # written by the resync when Redis is back
        try:
            await self._write_presence(agent_uuid, data)
        except (RedisError, OSError) as exc:
            logger.warning("could not record presence of %s (%s); rewritten on reconnect", agent_uuid, exc)

    async def clear_presence(self, agent_uuid: str) -> None:
        """Offline, if still ours (compare-and-delete); remembered for later while Redis is down."""
        data = self._presence.pop(agent_uuid, None)
        statuses = self._statuses.pop(agent_uuid, {})
        if data is None:
            return
        if await self._try_clear(agent_uuid, data) is None:
            self._pending_clear[agent_uuid] = (data, statuses)

    async def _try_clear(self, agent_uuid: str, data: bytes) -> bool | None:
        """True: cleared; False: another instance holds the agent now; None: Redis unreachable."""
        if not self._connected:
            return None
        keys = [self._presence_key(agent_uuid), self._status_key(agent_uuid), self._agents_key]
        try:
            return bool(await self._clear(keys=keys, args=[data, agent_uuid]))
        except (RedisError, OSError):
            return None

    async def refresh_presence(self, agent_uuids: list[str]) -> None:
        """Re-create (not just extend) presence and statuses of the hub's agents; forget the others."""
        if not self._connected:
            return  # the resync after reconnecting rewrites everything
        for gone in set(self._presence) - set(agent_uuids):
            await self.clear_presence(gone)  # replaced on another instance: the script keeps theirs
        try:
            await self._refresh_owned([agent for agent in agent_uuids if agent in self._presence])
        except (RedisError, OSError) as exc:
            logger.warning("could not refresh presence (%s); rewritten on reconnect", exc)

    async def _refresh_owned(self, owned: list[str]) -> None:
        if not owned:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for agent_uuid in owned:
                keys = [self._presence_key(agent_uuid), self._status_key(agent_uuid), self._agents_key]
                data = self._presence[agent_uuid]
                args: list[bytes | str | int] = [data, PRESENCE_TTL_SECONDS, agent_uuid, STATUS_TTL_SECONDS]
                await self._refresh(keys=keys, args=args, client=pipe)
            results = await pipe.execute()
        missing = [agent for agent, result in zip(owned, results, strict=True) if result == 0]
        refills = [agent for agent in missing if self._statuses.get(agent)]
        if refills:
            async with self._client.pipeline(transaction=False) as pipe:
                for agent_uuid in refills:
                    mapping: dict[Any, Any] = dict(self._statuses[agent_uuid])
                    pipe.hset(self._status_key(agent_uuid), mapping=mapping)
                    pipe.expire(self._status_key(agent_uuid), STATUS_TTL_SECONDS)
                await pipe.execute()

    async def get_presence(self, agent_uuids: list[str]) -> dict[str, bytes]:
        """Presence data of the online ones among ``agent_uuids``."""
        if not agent_uuids:
            return {}
        if not self._connected:
            raise self._unavailable()
        try:
            keys = [self._presence_key(agent) for agent in agent_uuids]
            values = cast(list[bytes | None], await self._client.mget(keys))
        except (RedisError, OSError) as exc:
            raise self._unavailable() from exc
        return {agent: value for agent, value in zip(agent_uuids, values, strict=True) if value is not None}

    async def sweep_presence(self) -> list[LostAgent]:
        """Agents of dead instances and agents that left here during an outage, each returned once."""
        if not self._connected:
            return []
        lost: list[LostAgent] = []
        for agent_uuid, (data, statuses) in list(self._pending_clear.items()):
            cleared = await self._try_clear(agent_uuid, data)
            if cleared is not None:
                del self._pending_clear[agent_uuid]
            if cleared:
                lost.append(LostAgent(agent_uuid, data, statuses))
        try:
            rows = await self._sweep(keys=[f"{self._ns}instances"], args=[self._ns, self.instance_id])
        except (RedisError, OSError) as exc:
            logger.warning("presence sweep failed: %s", exc)
            return lost
        for agent, data, flat in rows:
            statuses = {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}
            lost.append(LostAgent(agent.decode(), data, statuses))
        return lost

    # ---- printer status cache ---------------------------------------------------------------------------

    async def set_printer_status(self, agent_uuid: str, printer_uuid: str, data: bytes) -> None:
        """Remember the frame locally (for refills); write it, pipelined, only when it changed."""
        statuses = self._statuses.get(agent_uuid)
        if statuses is None:
            statuses = self._statuses[agent_uuid] = {}
        if statuses.get(printer_uuid) == data:
            return
        first = not statuses
        statuses[printer_uuid] = data
        if not self._connected:
            return  # refilled by the resync
        key = self._status_key(agent_uuid)
        written: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._writer.enqueue(("HSET", key, printer_uuid, data), written)
        if first:
            self._writer.enqueue(("EXPIRE", key, STATUS_TTL_SECONDS), None)
        with contextlib.suppress(Unavailable):  # Redis went down meanwhile: refilled by the resync
            await written

    async def get_printer_statuses(self, agent_uuid: str) -> dict[str, bytes]:
        """Last frames by printer (always from Redis: another instance may hold the agent by now)."""
        if not self._connected:
            raise self._unavailable()
        try:
            raw = cast(dict[bytes, bytes], await self._client.hgetall(self._status_key(agent_uuid)))
        except (RedisError, OSError) as exc:
            raise self._unavailable() from exc
        return {printer.decode(): frame for printer, frame in raw.items()}

    async def clear_printer_statuses(self, agent_uuid: str) -> None:
        """Forget the frames (the Redis hash went with ``clear_presence``'s compare-and-delete)."""
        self._statuses.pop(agent_uuid, None)

    async def healthy(self) -> bool:
        """Connected, and Redis answers a ``PING``."""
        if not self._connected:
            return False
        try:
            async with asyncio.timeout(2):
                await self._client.ping()
        except (RedisError, OSError, TimeoutError):
            return False
        return True
