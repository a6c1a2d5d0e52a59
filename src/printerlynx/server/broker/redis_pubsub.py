"""The Redis broker's two hot connections: a lean subscriber, and a writer that pipelines commands.

Subscriber: ``SUBSCRIBE``/``UNSUBSCRIBE`` out, messages in.

Why not redis-py's ``PubSub``: every received message goes through its retry, health-check and
observability layers (about 150 µs each here), and it reconnects by itself behind our back. Status
frames cross instances at thousands per second and the broker must *know* when the link dropped (to
refuse commands and to resubscribe and rebuild presence), so the subscriber side speaks RESP2 directly:
a dozen lines of parsing on an asyncio stream. Commands still go through redis-py.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

MAX_BATCH = 1000
MessageHandler = Callable[[bytes, bytes], None]
ConfirmHandler = Callable[[bytes], None]


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


class PubSubConnection:
    """One connection in subscriber mode; ``run`` reads until the link drops, then raises."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None,
        password: str | None,
        use_tls: bool,
        on_message: MessageHandler,
        on_subscribed: ConfirmHandler,
    ) -> None:
        self.host, self.port = host, port
        self.username, self.password, self.use_tls = username, password, use_tls
        self.on_message, self.on_subscribed = on_message, on_subscribed
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        """Open the socket and authenticate (before subscriber mode, where replies are pushes)."""
        context = ssl.create_default_context() if self.use_tls else None
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port, ssl=context)
        if self.password is not None:
            parts = [b"AUTH"]
            if self.username:
                parts.append(self.username.encode())
            parts.append(self.password.encode())
            self._writer.write(_command(*parts))
            reply = await self._reader.readuntil(b"\r\n")
            if not reply.startswith(b"+"):
                raise ConnectionError(f"Redis refused authentication: {reply.decode(errors='replace')}")

    def subscribe(self, channels: list[bytes]) -> None:
        """Send ``SUBSCRIBE``; the confirmation arrives through ``on_subscribed``."""
        if channels and self._writer is not None:
            self._writer.write(_command(b"SUBSCRIBE", *channels))

    def unsubscribe(self, channels: list[bytes]) -> None:
        """Send ``UNSUBSCRIBE`` (messages still in flight are ignored by the caller)."""
        if channels and self._writer is not None:
            self._writer.write(_command(b"UNSUBSCRIBE", *channels))

    async def run(self) -> None:
        """Dispatch pushes until the connection ends; always ends by raising ``ConnectionError``."""
        reader = self._reader
        if reader is None:
            raise ConnectionError("not connected")
        try:
            while True:
                push = await self._read(reader)
                if not isinstance(push, list) or len(push) < 3:
                    continue
                kind = push[0]
                if kind == b"message":
                    self.on_message(push[1], push[2])
                elif kind == b"subscribe":
                    self.on_subscribed(push[1])
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise ConnectionError(f"Redis subscriber connection lost: {exc or type(exc).__name__}") from exc

    async def _read(self, reader: asyncio.StreamReader) -> Any:
        line = await reader.readuntil(b"\r\n")
        prefix, rest = line[:1], line[1:-2]
        if prefix == b"$":
            length = int(rest)
            if length < 0:
                return None
            return (await reader.readexactly(length + 2))[:-2]
        if prefix == b"*":
            return [await self._read(reader) for _ in range(int(rest))]
        if prefix == b":":
            return int(rest)
        if prefix == b"-":
            raise ConnectionError(f"Redis error on the subscriber link: {rest.decode(errors='replace')}")
        return rest

    def close(self) -> None:
        """Drop the socket."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._reader = None


class PipelineWriter:
    """Queued commands written by one task as pipelines: whatever accumulated while the previous one ran.

    Under load one round trip carries hundreds of ``PUBLISH``/``HSET``; order is kept (one writer).
    """

    def __init__(self, client: aioredis.Redis, unavailable: Callable[[], Exception]) -> None:
        self._client = client
        self._unavailable = unavailable
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[Any] | None]] = []
        self._wake = asyncio.Event()

    def enqueue(self, args: tuple[Any, ...], future: asyncio.Future[Any] | None) -> None:
        """Queue one command; ``future`` (if any) gets its reply, or ``unavailable()`` on failure."""
        self._queue.append((args, future))
        self._wake.set()

    async def run(self) -> None:
        """Write until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                pipe = self._client.pipeline(transaction=False)
                for args, _ in batch:
                    pipe.execute_command(*args)
                try:
                    results = await pipe.execute(raise_on_error=False)
                except (RedisError, OSError) as exc:
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future is None or future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(self._unavailable())
                    else:
                        future.set_result(result)
