"""The agent: keeps its printers running and links them to the backend over ``/api/v1/ws/agent``.

The printers never depend on the link: each runs in its own task from start to stop, so a job goes on
printing while the backend is unreachable, and the first ``printer_status`` after a reconnect tells the
truth. The link connects out, authenticates, sends every printer's status at once, then on every change
(coalesced to one frame per printer per ``COALESCE_SECONDS``) and at least every few seconds; it answers
``print_job`` and ``printer_command`` with an ``OK``/``ERROR`` acknowledgement carrying the request's id.
Reconnects use full-jitter exponential backoff; close code 4003 (revoked) stops the agent for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from printerlynx.agent.config import AgentConfig, printer_uuids
from printerlynx.agent.printer import PrinterError
from printerlynx.agent.slot import (
    CommandRefused,
    PrinterFactory,
    PrinterSlot,
    default_printer_factory,
    error_message,
)
from printerlynx.protocol.envelope import Envelope, EnvelopeError, decode_envelope, encode
from printerlynx.protocol.messages import AgentPrinterCommand, AgentPrintJob

logger = logging.getLogger("printerlynx.agent")

CLOSE_REPLACED = 4000
CLOSE_REVOKED = 4003
EXIT_REJECTED = 3  # the backend refused the token
EXIT_REVOKED = 4  # the token was revoked while connected
COALESCE_SECONDS = 0.25
# The backend rate-limits each connection (50 frames/s by default): many printers share a budget.
STATUS_FRAMES_PER_SECOND = 30.0
HEARTBEAT_BUSY = 2.0
HEARTBEAT_IDLE = 10.0
# The backend waits 10 s for an acknowledgement; a slow command (G28, M109) is acknowledged before that.
COMMAND_ACK_WAIT = 8.0
MAX_RESPONSE_LINES = 200
OUTBOX_FRAMES = 1000


class AgentStopped(Exception):
    """The agent must not go on (bad or revoked token); ``exit_code`` for the process."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class AgentApp:
    """The agent process: printers plus the backend link."""

    def __init__(
        self,
        config: AgentConfig,
        printer_factory: PrinterFactory = default_printer_factory,
        *,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        stable_after: float = 30.0,
    ) -> None:
        self.config = config
        self.backoff_base, self.backoff_cap, self.stable_after = backoff_base, backoff_cap, stable_after
        uuids = printer_uuids(config.state_dir, [spec.name for spec in config.printers])
        self.slots: dict[str, PrinterSlot] = {}
        for spec in config.printers:
            slot = PrinterSlot(spec, uuids[spec.name])
            slot.notify = self._on_change(slot)
            slot.printer = printer_factory(spec, slot.printer_uuid, slot.notify, self._on_response(slot))
            self.slots[slot.printer_uuid] = slot
        self._wake = asyncio.Event()
        self._outbox: asyncio.Queue[bytes] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._http: httpx.AsyncClient | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "print_job": self._print_job,
            "printer_command": self._printer_command,
        }

    # ---- lifecycle ----------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run printers and the link until cancelled; raises ``AgentStopped`` on a bad or revoked token."""
        runners = [asyncio.create_task(self._keep_running(slot)) for slot in self.slots.values()]
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)) as self._http:
                await self._link_forever()
        finally:
            pending = runners + list(self._tasks) + [s.starting for s in self.slots.values() if s.starting]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _keep_running(self, slot: PrinterSlot) -> None:
        """``Printer.run`` reconnects by itself; should it ever crash, log it and start it again."""
        while True:
            try:
                await slot.printer.run()
                return
            except Exception:
                logger.exception("printer %s stopped unexpectedly; restarting it in 5 s", slot.spec.name)
                await asyncio.sleep(5)

    async def _link_forever(self) -> None:
        loop = asyncio.get_running_loop()
        url, attempt = self.config.ws_url, 0
        while True:
            logger.info("connecting to %s", url)
            connected_at: float | None = None
            try:
                async with connect(url, open_timeout=15, max_size=2**20, compression=None) as ws:
                    connected_at = loop.time()
                    logger.info("connected to %s", url)
                    await self._session(ws)
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
                reason = exc.rcvd.reason if exc.rcvd is not None else "no close frame"
                if code == CLOSE_REVOKED:
                    raise AgentStopped(
                        "the backend revoked this agent's token (4003); create or rotate a token in the "
                        "dashboard and restart the agent with it",
                        EXIT_REVOKED,
                    ) from exc
                if code == CLOSE_REPLACED:
                    logger.warning("replaced by a newer connection with the same token (another agent?)")
                else:
                    logger.warning("connection lost (code %s%s)", code, f": {reason}" if reason else "")
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, EnvelopeError) as exc:
                logger.warning("cannot connect to %s: %s", url, error_message(exc))
            if connected_at is not None and loop.time() - connected_at >= self.stable_after:
                attempt = 0
            delay = random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))
            attempt += 1
            logger.info("reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)

    async def _session(self, ws: ClientConnection) -> None:
        await ws.send(encode("authentication", {"token": self.config.token}).decode())
        async with asyncio.timeout(15):
            reply = decode_envelope(await ws.recv())
        if reply.type != "authentication" or reply.data.get("status") != "success":
            message = reply.data.get("message") or "authentication refused"
            raise AgentStopped(f"the backend refused the agent token: {message}", EXIT_REJECTED)
        logger.info("authenticated; reporting %d printer(s)", len(self.slots))
        self._outbox = asyncio.Queue(OUTBOX_FRAMES)
        for slot in self.slots.values():
            slot.dirty, slot.sent_at = True, float("-inf")
        parts = [
            asyncio.create_task(self._reader(ws)),
            asyncio.create_task(self._writer(ws, self._outbox)),
            asyncio.create_task(self._status_loop()),
        ]
        try:
            done, _ = await asyncio.wait(parts, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise what ended the session
            await ws.close()
            raise ConnectionClosed(ws.protocol.close_rcvd, ws.protocol.close_sent)
        finally:
            self._outbox = None
            for task in parts:
                task.cancel()
            await asyncio.gather(*parts, return_exceptions=True)

    # ---- outgoing -----------------------------------------------------------------------------------------

    def _emit(self, frame: bytes) -> None:
        """Queue one frame for the backend; dropped while disconnected (status is resent on reconnect)."""
        if self._outbox is None:
            return
        try:
            self._outbox.put_nowait(frame)
        except asyncio.QueueFull:
            logger.warning("the backend is not reading; dropped a %d-byte message", len(frame))

    async def _writer(self, ws: ClientConnection, outbox: asyncio.Queue[bytes]) -> None:
        while True:
            await ws.send((await outbox.get()).decode())

    def _changed(self, slot: PrinterSlot) -> None:
        slot.dirty = True
        self._wake.set()

    def _on_change(self, slot: PrinterSlot) -> Callable[[], None]:
        return lambda: self._changed(slot)

    def _on_response(self, slot: PrinterSlot) -> Callable[[str, list[str]], None]:
        def forward(command: str, lines: list[str]) -> None:
            body = {
                "printer_uuid": slot.printer_uuid,
                "command": command[:1024],
                "lines": [line[:1024] for line in lines[-MAX_RESPONSE_LINES:]],
            }
            self._emit(encode("printer_response", body))

        return forward

    async def _status_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            wake_at = now + HEARTBEAT_IDLE
            for slot in self.slots.values():
                due = self._due(slot)
                if due <= now:
                    body = slot.status()
                    slot.dirty, slot.sent_at = False, now
                    slot.log_transitions(body)
                    self._emit(encode("printer_status", body))
                    due = self._due(slot)
                wake_at = min(wake_at, due)
            # No await between computing and clearing: a change cannot slip in unseen.
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wake_at - loop.time())):
                    await self._wake.wait()

    def _due(self, slot: PrinterSlot) -> float:
        if slot.dirty:
            return slot.sent_at + max(COALESCE_SECONDS, len(self.slots) / STATUS_FRAMES_PER_SECOND)
        busy = slot.reported[:1] == ("busy",)
        return slot.sent_at + (HEARTBEAT_BUSY if busy else HEARTBEAT_IDLE)

    # ---- incoming -----------------------------------------------------------------------------------------

    async def _reader(self, ws: ClientConnection) -> None:
        async for raw in ws:
            try:
                envelope = decode_envelope(raw)
            except EnvelopeError as exc:
                logger.warning("ignored a malformed message from the backend: %s", exc.message)
                continue
            handler = self._handlers.get(envelope.type)
            if handler is None or "status" in envelope.data:
                # The backend's error replies (e.g. to a status it refused) carry a status, never a request.
                if envelope.data.get("status") in ("ERROR", "error"):
                    logger.warning(
                        "the backend refused our %s: %s", envelope.type, envelope.data.get("message")
                    )
                else:
                    logger.debug("ignored a %s message", envelope.type)
                continue
            task = asyncio.create_task(self._answer(envelope, handler))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(
        self, envelope: Envelope, handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
    ) -> None:
        """Run one request and always answer it with the same type and id."""
        try:
            body = await handler(envelope.data)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error.get("loc", ())) or "data"
            body = {"status": "ERROR", "message": f"invalid {envelope.type}: {where}: {error.get('msg')}"}
        except CommandRefused as exc:
            body = {"status": "ERROR", "message": exc.message}
        except Exception as exc:
            if not isinstance(exc, PrinterError):
                logger.exception("could not handle %s", envelope.type)
            body = {"status": "ERROR", "message": error_message(exc)}
        self._emit(encode(envelope.type, body, envelope.id))

    def _slot(self, printer_uuid: str) -> PrinterSlot:
        slot = self.slots.get(printer_uuid)
        if slot is None:
            raise CommandRefused("unknown printer")
        return slot

    async def _print_job(self, data: dict[str, Any]) -> dict[str, Any]:
        request = AgentPrintJob.model_validate(data)
        slot = self._slot(request.printer_uuid)
        if request.type == "START":
            assert self._http is not None
            slot.begin_start(request, self.config, self._http)
        else:
            await slot.control(request.type, request.job_uuid)
        return {"status": "OK"}

    async def _printer_command(self, data: dict[str, Any]) -> dict[str, Any]:
        request = AgentPrinterCommand.model_validate(data)
        slot = self._slot(request.printer_uuid)
        running = asyncio.ensure_future(slot.printer.command(request.command))
        done, _ = await asyncio.wait({running}, timeout=COMMAND_ACK_WAIT)
        if not done:
            running.add_done_callback(lambda task: task.cancelled() or task.exception())
            return {"status": "OK", "message": "sent; the printer is still working on it"}
        running.result()
        return {"status": "OK"}
