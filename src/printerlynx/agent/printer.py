"""One printer: connection, handshake, temperatures, job streaming, pause/resume/cancel — over a transport.

``Printer.run()`` owns the link for the printer's whole life: it opens the transport, greets the firmware
(``M110 N0``, ``M115``), keeps temperatures fresh (``M155`` autoreport when the firmware offers it, else
``M105`` polls) and reconnects forever when the port vanishes or the firmware stops answering. The line
protocol itself (numbers, checksums, resends, flow, timeouts) is the I/O-free ``MarlinProtocol``; this module
turns its events into state and the app's calls into lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from printerlynx.agent import marlin
from printerlynx.agent.printer_model import Job, PrinterConfig, PrinterError, read_chunk
from printerlynx.agent.transports import Transport, open_transport

logger = logging.getLogger("printerlynx.agent.printer")

__all__ = ["Printer", "PrinterConfig", "PrinterError"]

JOB_BACKLOG_LOW = 512  # refill the protocol's job queue below this many lines (a chunk brings ~1500)
HEATING_WAITS = frozenset({"M109", "M190", "M191", "M116"})


class _SessionEnded(Exception):
    """The link is no longer usable; ``str()`` is why."""


@dataclass(eq=False)
class _Reply:
    """Who waits for a command's answer; ``person``: also pass it to ``on_response`` (the terminal)."""

    future: asyncio.Future[list[str]]
    person: bool


class Printer:
    """A printer as the agent app sees it (see ``PrinterLike`` in ``agent/app.py``)."""

    def __init__(
        self,
        config: PrinterConfig,
        on_change: Callable[[], None],
        on_response: Callable[[str, list[str]], None],
    ) -> None:
        if config.adapter == "VIRTUAL" and config.virtual_printer is None:
            from printerlynx.agent.virtual import VirtualOptions, VirtualPrinter

            # Made here so that a bad ``virtual`` option is a ValueError at configuration time.
            config.virtual_printer = VirtualPrinter(VirtualOptions.from_mapping(dict(config.virtual)))
        self.config = config
        self._on_change = on_change
        self._on_response = on_response
        self._core: marlin.MarlinProtocol | None = None
        self._failure: asyncio.Future[None] | None = None
        self._transport: Transport | None = None
        self._ready = False
        self._job: Job | None = None
        self._feeder: asyncio.Task[None] | None = None
        self._need_lines = asyncio.Event()
        self.temperatures: dict[str, float] = {}
        self.targets: dict[str, float] = {}
        self.position: dict[str, float] = {}
        self.firmware: dict[str, str] = {}
        self._last_change = 0.0
        self._reported_temperatures: dict[str, float] = {}
        self._reported_progress = -1.0
        self._poll_due = 0.0
        self._handshake_done = asyncio.Event()
        self._restart_handshake = asyncio.Event()

    # ---------------------------------------------------------------- the interface

    async def run(self) -> None:
        """Connect, greet, keep temperatures fresh and reconnect forever; cancel to stop."""
        while True:
            try:
                transport = await open_transport(self.config)
            except OSError as exc:
                logger.debug("printer %s: cannot open %s: %s", self.config.name, self.config.port, exc)
                await asyncio.sleep(self.config.reconnect_interval)
                continue
            reason = "the printer disconnected"
            try:
                await self._session(transport)
            except _SessionEnded as exc:
                reason = str(exc)
            except asyncio.CancelledError:
                reason = "the agent stopped"
                raise
            finally:
                self._end_session(reason)
                await transport.close()
            logger.warning("printer %s unavailable: %s", self.config.name, reason)
            await asyncio.sleep(self.config.reconnect_interval)

    def status(self) -> dict[str, Any]:
        """The ``printer_status`` body without ``agent_uuid``."""
        if not self._ready:
            status = "unavailable"
        elif self._job is not None and self._job.state in ("printing", "paused"):
            status = "busy"
        else:
            status = "available"
        state: dict[str, Any] = {"temperature": dict(self.temperatures)}
        if self.targets:
            state["target_temperature"] = dict(self.targets)
        return {
            "printer_uuid": self.config.uuid,
            "printer_identifier": self.config.name,
            "printer_adapter_identifier": self.config.adapter,
            "printer_adapter_interface": "virtual" if self.config.adapter == "VIRTUAL" else self.config.port,
            "status": status,
            "job": self._job.status(time.time()) if self._job is not None else None,
            "state": state,
        }

    async def start_job(
        self, job_uuid: str, path: Path, *, name: str, size: int, print_file_uuid: str
    ) -> None:
        """Start streaming ``path``; returns once the first lines are on their way."""
        self._usable()
        try:
            file_size = (await asyncio.to_thread(Path(path).stat)).st_size
        except OSError as exc:
            raise PrinterError(f"cannot read the print file: {exc.strerror or exc}") from exc
        core = self._usable()  # checked again after the await: the link or another START may have changed
        if self._job is not None and self._job.state in ("printing", "paused"):
            raise PrinterError("printer is busy")
        job = Job(job_uuid, Path(path), name, size, print_file_uuid, file_size, time.time())
        self._job = job
        core.job_active = True
        core.hold_job = False
        started = asyncio.get_running_loop().create_future()
        self._feeder = asyncio.create_task(self._feed(job, core, started))
        self._changed()
        await started

    async def pause(self, job_uuid: str) -> None:
        """Stop feeding, wait for the moves, note the position and park the head."""
        core = self._usable()
        job = self._current_job(job_uuid, ("printing",), "no print to pause")
        job.state = "paused"
        core.hold_job = True
        for command in ["M400", "M114", *self.config.park_script]:
            core.send(command, now=_now())
        self._flush()
        self._changed()

    async def resume(self, job_uuid: str) -> None:
        """Run the restore script, then continue streaming."""
        core = self._usable()
        job = self._current_job(job_uuid, ("paused",), "the print is not paused")
        for command in self.config.restore_script:
            core.send(self._fill(command), now=_now())
        job.state = "printing"
        core.hold_job = False
        core.release(_now())
        self._flush()
        self._changed()

    async def cancel(self, job_uuid: str) -> None:
        """Stop streaming, break a heat-up wait, then run the cancel script."""
        core = self._usable()
        job = self._current_job(job_uuid, ("printing", "paused"), "no print to cancel")
        self._finish(job, "cancelled", "cancelled")
        if any(marlin.command_word(sent.command) in HEATING_WAITS for sent in core.in_flight):
            core.send("M108", now=_now())
        for command in self.config.cancel_script:
            core.send(command, now=_now())
        self._flush()

    async def command(self, line: str) -> list[str]:
        """Send one G-code line from a person; returns what the printer answered to it."""
        core = self._usable()
        line = line.strip()
        if not line or "\n" in line or "\r" in line or len(line) > 256:
            raise PrinterError("send exactly one G-code line (at most 256 characters)")
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        core.send(line, tag=_Reply(future, person=True), now=_now())
        self._flush()
        if marlin.command_word(line) == "M112":
            self._on_response(line, [])
            return []  # a killed firmware answers nothing
        return await future

    # ---------------------------------------------------------------- the session

    async def _session(self, transport: Transport) -> None:
        loop = asyncio.get_running_loop()
        self._transport = transport
        self._core = marlin.MarlinProtocol(
            rx_buffer_bytes=self.config.rx_buffer_bytes,
            timeout=self.config.communication_timeout,
            busy_timeout=self.config.busy_timeout,
            long_command_timeout=self.config.long_command_timeout,
            resend_ok_timeout=self.config.resend_ok_timeout,
            now=loop.time(),
        )
        failure: asyncio.Future[None] = loop.create_future()
        self._failure = failure
        tasks = [loop.create_task(self._read_loop(transport)), loop.create_task(self._maintain())]
        try:
            done, _ = await asyncio.wait([*tasks, failure], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises _SessionEnded (or a bug)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if failure.done():
                failure.exception()  # retrieved (it may already have been raised above)
            else:
                failure.cancel()

    async def _read_loop(self, transport: Transport) -> None:
        # Received bytes are handled in the transport's reader callback: an ok is answered with the next
        # line without a hop through this task (one event-loop iteration less per line).
        transport.set_receiver(self._receive)
        while data := await transport.read():
            self._receive(data)
        raise _SessionEnded("the printer disconnected")

    def _receive(self, data: bytes) -> None:
        core, failure = self._core, self._failure
        if core is None or failure is None or failure.done():
            return
        try:
            self._handle(core.receive_data(data, asyncio.get_running_loop().time()))
            self._flush()
        except Exception as exc:  # ends the session (_SessionEnded) or surfaces a bug from run()
            failure.set_exception(exc)

    async def _maintain(self) -> None:
        """Handshake, then timers: protocol deadlines, temperature polls, status heartbeats."""
        await self._handshake()
        loop = asyncio.get_running_loop()
        while True:
            core = self._core
            assert core is not None
            if self._restart_handshake.is_set():
                await self._handshake()
                continue
            now = loop.time()
            self._handle(core.tick(now))
            self._poll_temperature(core, now)
            job = self._job
            active = job is not None and job.state in ("printing", "paused")
            if active and time.monotonic() - self._last_change >= self.config.status_interval:
                self._changed()
            self._flush()
            deadline = core.next_deadline()
            delay = 0.25 if deadline is None else min(max(deadline - loop.time(), 0.0), 0.25)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._restart_handshake.wait(), timeout=delay)

    async def _handshake(self) -> None:
        self._restart_handshake.clear()
        for attempt in range(self.config.handshake_attempts):
            core = self._core
            assert core is not None
            self._fail_pending(core.reset(_now()), "the printer restarted")
            core.send("M110 N0", now=_now())
            hello: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
            core.send("M115", tag=_Reply(hello, person=False), now=_now())
            self._flush()
            try:
                await asyncio.wait_for(hello, self.config.handshake_timeout)
            except (TimeoutError, PrinterError):
                logger.debug("printer %s: no answer to M115 (attempt %d)", self.config.name, attempt + 1)
                continue
            self.firmware = dict(core.firmware)
            if core.capabilities.get("AUTOREPORT_TEMP"):
                core.send(f"M155 S{self.config.autoreport_interval}", now=_now())
            self._poll_due = 0.0
            self._ready = True
            logger.info("printer %s ready: %s", self.config.name, self.firmware.get("FIRMWARE_NAME", "?"))
            self._changed()
            return
        raise _SessionEnded("no answer from the printer")

    def _poll_temperature(self, core: marlin.MarlinProtocol, now: float) -> None:
        if not self._ready or core.capabilities.get("AUTOREPORT_TEMP") or now < self._poll_due:
            return
        heating = any(value > 0 for value in self.targets.values())
        self._poll_due = now + (
            self.config.temperature_interval_heating if heating else self.config.temperature_interval
        )
        if not any(sent.poll for sent in core.in_flight):
            core.send("M105", now=now)

    def _end_session(self, reason: str) -> None:
        core, self._core = self._core, None
        self._transport = None
        self._ready = False
        if core is not None:
            self._fail_pending(core.reset(_now()), reason)
        if self._job is not None and self._job.state in ("printing", "paused"):
            self._finish(self._job, "failed", reason)
        self._changed()

    # ---------------------------------------------------------------- events

    def _handle(self, events: list[marlin.Event]) -> None:
        for event in events:
            if isinstance(event, marlin.Ok):
                for sent in event.acked:
                    self._acknowledged(sent)  # type: ignore[arg-type]
            elif isinstance(event, marlin.Temperature):
                self._temperature(event)
            elif isinstance(event, marlin.Position):
                self.position = event.axes
            elif isinstance(event, marlin.Start):
                self._fail_pending(event.pending, "the printer restarted")
                if self._ready:
                    logger.warning("printer %s restarted (firmware reset)", self.config.name)
                    if self._job is not None and self._job.state in ("printing", "paused"):
                        self._finish(
                            self._job, "failed", "the printer restarted (firmware reset) during the print"
                        )
                    self._ready = False
                    self._restart_handshake.set()
                    self._changed()
            elif isinstance(event, marlin.Error):
                logger.warning("printer %s: Error:%s", self.config.name, event.message)
                if event.fatal:
                    if self._job is not None and self._job.state in ("printing", "paused"):
                        self._finish(self._job, "failed", f"printer error: {event.message}")
                    raise _SessionEnded(f"printer error: {event.message}")
            elif isinstance(event, marlin.LinkDead):
                raise _SessionEnded(event.reason)
            elif isinstance(event, marlin.Action):
                self._host_action(event)
            elif isinstance(event, marlin.Timeout):
                logger.info("printer %s: no answer, polling (%d)", self.config.name, event.count)
            elif isinstance(event, marlin.Resend):
                logger.info("printer %s: resend from line %d", self.config.name, event.line_number)
            elif isinstance(event, marlin.Unknown):
                logger.debug("printer %s: %s", self.config.name, event.line)

    def _acknowledged(self, sent: marlin.Sent) -> None:
        tag = sent.tag
        if isinstance(tag, _Reply):
            lines = list(sent.reply)
            if not lines or not lines[-1].lower().startswith("ok"):
                lines.append("ok")
            if not tag.future.done():
                tag.future.set_result(lines)
            if tag.person:
                self._on_response(sent.command, lines)
        elif isinstance(tag, tuple) and self._job is not None and tag[0] is self._job:
            job = self._job
            job.acknowledged(tag[1], tag[2])
            if job.state == "completed" and job.ended_at is None:
                self._finish(job, "completed", None)
            elif job.progress - self._reported_progress >= 0.005:
                self._changed()
            core = self._core
            if core is not None and core.job_backlog < JOB_BACKLOG_LOW:
                self._need_lines.set()

    def _temperature(self, report: marlin.Temperature) -> None:
        self.temperatures.update(report.actual)
        targets_changed = any(self.targets.get(key) != value for key, value in report.target.items())
        self.targets.update(report.target)
        moved = any(
            abs(value - self._reported_temperatures.get(key, -1000.0)) >= 0.5
            for key, value in report.actual.items()
        )
        if moved or targets_changed:
            self._changed()

    def _host_action(self, action: marlin.Action) -> None:
        job = self._job
        if job is None:
            return
        handlers = {"pause": self.pause, "paused": self.pause, "resume": self.resume, "cancel": self.cancel}
        handler = handlers.get(action.name)
        if handler is not None:
            task = asyncio.get_running_loop().create_task(handler(job.job_uuid))
            task.add_done_callback(lambda done: done.cancelled() or done.exception())

    # ---------------------------------------------------------------- the job

    async def _feed(self, job: Job, core: marlin.MarlinProtocol, started: asyncio.Future[None]) -> None:
        offset = 0
        try:
            while job.state in ("printing", "paused") and self._core is core:
                if core.job_backlog >= JOB_BACKLOG_LOW:
                    self._need_lines.clear()
                    await self._need_lines.wait()
                    continue
                lines, offset, done = await asyncio.to_thread(read_chunk, job.path, offset)
                if job.state not in ("printing", "paused") or self._core is not core:
                    return
                core.queue_job([(command, (job, end, False)) for command, end in lines], _now())
                if done:
                    # M400 last: the print is complete when the moves are, not when the last line is read.
                    core.queue_job([("M400", (job, job.file_size, True))], _now())
                self._flush()
                if not started.done():
                    started.set_result(None)
                if done:
                    return
        except OSError as exc:
            message = f"cannot read the print file: {exc.strerror or exc}"
            if not started.done():
                started.set_exception(PrinterError(message))
            self._finish(job, "failed", message)
        finally:
            if not started.done():
                started.set_exception(PrinterError("the printer became unavailable"))

    def _finish(self, job: Job, state: str, message: str | None) -> None:
        job.finish(state, message, time.time())
        core = self._core
        if core is not None:
            core.clear_job()
            core.job_active = False
            core.hold_job = False
        if self._feeder is not None and self._feeder is not asyncio.current_task():
            self._feeder.cancel()
        self._need_lines.set()
        logger.info(
            "printer %s: job %s %s%s",
            self.config.name,
            job.job_uuid,
            state,
            f": {message}" if message else "",
        )
        self._changed()

    def _current_job(self, job_uuid: str, states: tuple[str, ...], refusal: str) -> Job:
        job = self._job
        if job is None or job.job_uuid != job_uuid or job.state not in states:
            raise PrinterError(refusal)
        return job

    # ---------------------------------------------------------------- plumbing

    def _usable(self) -> marlin.MarlinProtocol:
        if not self._ready or self._core is None:
            raise PrinterError("printer is unavailable")
        return self._core

    def _flush(self) -> None:
        core, transport = self._core, self._transport
        if core is not None and transport is not None:
            data = core.data_to_send()
            if data:
                transport.write(data)

    def _fill(self, command: str) -> str:
        """Scripts may use ``{x}``/``{y}``/``{z}``/``{e}``: the position noted when pausing."""
        if "{" not in command:
            return command
        values = {axis: f"{self.position.get(axis, 0.0):.3f}" for axis in "xyze"}
        try:
            return command.format_map(values)
        except (KeyError, ValueError, IndexError):
            return command

    def _fail_pending(self, pending: Any, reason: str) -> None:
        for sent in pending:
            if isinstance(sent.tag, _Reply) and not sent.tag.future.done():
                sent.tag.future.set_exception(PrinterError(reason))
                sent.tag.future.exception()  # marked retrieved: nobody may be waiting any more

    def _changed(self) -> None:
        self._last_change = time.monotonic()
        self._reported_temperatures = dict(self.temperatures)
        if self._job is not None:
            self._reported_progress = self._job.progress
        try:
            self._on_change()
        except Exception:  # the app's callback must never break the printer
            logger.exception("printer %s: on_change failed", self.config.name)


def _now() -> float:
    return asyncio.get_running_loop().time()
