"""One WebSocket connection: a bounded send queue drained by its own writer, and a rate limiter.

A client that stops reading fills its queue and is dropped; it never slows the sender, which may be
relaying one agent's status to hundreds of sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

from printerlynx.server.metrics import WS_DROPPED

logger = logging.getLogger("printerlynx.ws")

CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_SLOW_CONSUMER = 1008
CLOSE_REPLACED = 4000
CLOSE_AUTH_TIMEOUT = 4001
CLOSE_REVOKED = 4003
# Commands of one connection waiting for agents at once; more get an ERROR at once.
MAX_COMMANDS_IN_FLIGHT = 32


class TokenBucket:
    """``rate`` messages per second with bursts up to ``burst``."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> bool:
        """Spend one token if there is one."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Connection:
    """A WebSocket with a bounded outbound queue, a writer task and helper tasks it owns."""

    endpoint = "ws"

    def __init__(self, websocket: WebSocket, queue_size: int, rate: float, burst: int) -> None:
        self.websocket = websocket
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(queue_size)
        self.rate_limit = TokenBucket(rate, burst)
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self._writer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        """Start the writer."""
        self._writer = asyncio.create_task(self._write_loop(), name=f"{self.endpoint}-writer")

    def send(self, frame: str) -> None:
        """Queue one text frame; a full queue means the client stopped reading, so it is dropped."""
        if self.closed.is_set():
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            WS_DROPPED.inc()
            logger.warning(
                "dropping %s connection: it stopped reading (%d frames queued)",
                self.endpoint,
                self.queue.qsize(),
            )
            self.close(CLOSE_SLOW_CONSUMER, "slow consumer: send queue full", drop_pending=True)

    def close(self, code: int, reason: str = "", *, drop_pending: bool = False) -> None:
        """Close with ``code`` after the frames already queued (or at once, dropping them)."""
        if self.closed.is_set():
            return
        self.close_code, self.close_reason = code, reason
        self.closed.set()
        if drop_pending or self.queue.full():
            while not self.queue.empty():
                self.queue.get_nowait()
        self.queue.put_nowait(None)

    def spawn(self, coroutine: Any) -> bool:
        """Run a helper task tied to this connection; refuse when too many are running."""
        if len(self._tasks) >= MAX_COMMANDS_IN_FLIGHT:
            coroutine.close()
            return False
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _write_loop(self) -> None:
        send = self.websocket.send
        try:
            while True:
                frame = await self.queue.get()
                if frame is None:
                    break
                await send({"type": "websocket.send", "text": frame})
        except Exception:  # the peer went away mid-send; the reader notices and cleans up
            self.closed.set()
            return
        if self.websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.websocket.close(self.close_code or 1000, self.close_reason[:120])

    async def finish(self) -> None:
        """Stop the writer and helper tasks after the read loop ended."""
        if not self.closed.is_set():
            self.close(1000)
        if self._writer is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._writer, 5)
        for task in list(self._tasks):
            task.cancel()
