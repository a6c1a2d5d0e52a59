"""The Marlin host protocol, I/O-free (in the style of python-websockets' sans-I/O core).

Feed it what the printer said (``receive_data(bytes, now)``) and the passing of time (``tick(now)``); it
returns events and keeps ``data_to_send()`` filled with what to write. It owns line numbers and checksums
(``N<n> <cmd>*<xor>``), the history behind ``Resend``, flow control and the timeout policy:

* **Flow.** Without ADVANCED_OK one numbered line is in flight at a time. Once oks carry ``P``/``B`` slots
  (ADVANCED_OK), several lines may be in flight while their bytes stay within the firmware's receive
  buffer (``rx_buffer_bytes``, minus a small reserve for emergency lines and polls): Marlin has no flow
  control and drops bytes beyond its buffer.
* **Order.** Emergency commands (M112 always; M108/M410/M876 with EMERGENCY_PARSER) are written at once;
  other commands go before the next job line; job lines go last and can be held (pause).
* **Resend.** A resend request voids everything in flight and rewinds to the requested line (even an older
  one), then resends one line at a time until caught up. Marlin 2.1 follows ``Resend`` with an ``ok``,
  older versions do not: the core waits briefly for that ok and swallows it, so a line is never sent twice
  because of it. Repeated requests for the same line caused by lines that were already on their way are
  ignored. With ADVANCED_OK the ``N`` on each ok tells exactly which line it acknowledges.
* **Timeouts** (OctoPrint's policy): after ``timeout`` s of silence (``busy_timeout`` once the firmware has
  shown busy keepalives) it sends an unnumbered ``M105`` to provoke an answer; its ``ok T:…`` stands in for
  lost oks. Long-running commands (G28, M109, …) are exempt up to ``long_command_timeout``. After 2 (idle) /
  5 (printing) timeouts in a row the link is dead (``LinkDead``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from printerlynx.agent import marlin_lines as wire
from printerlynx.agent.marlin_lines import *  # noqa: F403 - the events and helpers are part of this API

__all__ = [*wire.__all__, "MarlinProtocol"]


class MarlinProtocol:
    """The host side of the Marlin serial protocol; see the module docstring."""

    def __init__(
        self,
        *,
        rx_buffer_bytes: int = 128,
        timeout: float = 30.0,
        busy_timeout: float = 5.0,
        long_command_timeout: float = 900.0,
        resend_ok_timeout: float = 0.5,
        max_timeouts_idle: int = 2,
        max_timeouts_printing: int = 5,
        history_size: int = 512,
        now: float = 0.0,
    ) -> None:
        self.rx_buffer_bytes = rx_buffer_bytes
        self.timeout = timeout
        self.busy_timeout = busy_timeout
        self.long_command_timeout = long_command_timeout
        self.resend_ok_timeout = resend_ok_timeout
        self.max_timeouts_idle = max_timeouts_idle
        self.max_timeouts_printing = max_timeouts_printing
        self.history_size = history_size
        self.capabilities: dict[str, bool] = {}
        self.firmware: dict[str, str] = {}
        self.advanced_ok = False  # learned from the first ok carrying P/B
        self.busy_seen = False
        self.job_active = False  # more timeouts are tolerated while printing
        self.hold_job = False  # pause: job lines stay queued
        self.dead = False
        self.max_in_flight_bytes = 0  # the most bytes ever in flight (tests and benchmarks)
        self._next_number = 1
        self._history: dict[int, wire.Sent] = {}
        self._in_flight: deque[wire.Sent] = deque()
        self._in_flight_bytes = 0
        self._numbered_in_flight = 0  # lines answered by a numbered ok; the one-in-flight rule counts these
        self._commands: deque[wire.Sent] = deque()
        self._job: deque[wire.Sent] = deque()
        self._out = bytearray()
        self._rx = bytearray()
        self._resend_from: int | None = None  # recovery: resending history one line at a time
        self._resend_caught_up_at = 0
        self._resend_wait_until: float | None = None  # waiting for the ok that may follow a wire.Resend
        self._oks_after_resend: bool | None = None  # learned: does this firmware send one?
        self._last_resend = -1
        self._stale_repeats = 0
        self._timeouts = 0
        self._last_progress = now

    # ---------------------------------------------------------------- what the caller gives us

    def send(self, command: str, *, tag: object = None, now: float) -> wire.Sent:
        """Queue a command (emergency ones are written at once); returns its handle."""
        command = command.strip()
        word = wire.command_word(command)
        emergency = word == "M112" or (
            word in wire.EMERGENCY_COMMANDS and self.capabilities.get("EMERGENCY_PARSER")
        )
        kind = "emergency" if emergency else "command"
        sent = wire.Sent(command, kind, tag, word=word, long_running=_is_long(word), poll=word == "M105")
        if emergency:
            sent.data = (command + "\n").encode()
            self._write(sent, now, track=word != "M112")  # a killed firmware never answers M112
        else:
            self._commands.append(sent)
            self._pump(now)
        return sent

    def queue_job(self, lines: Iterable[tuple[str, object]], now: float) -> None:
        """Append job lines (command, tag); they go out after any pending command, unless held."""
        for command, tag in lines:
            word = wire.command_word(command)
            self._job.append(wire.Sent(command, "job", tag, word=word, long_running=_is_long(word)))
        self._pump(now)

    def clear_job(self) -> list[wire.Sent]:
        """Drop the job lines not sent yet (cancel); lines in flight still get their oks."""
        dropped = list(self._job)
        self._job.clear()
        return dropped

    def release(self, now: float) -> None:
        """Send whatever flow control now allows (after ``hold_job`` changed)."""
        self._pump(now)

    def reset(self, now: float) -> list[wire.Sent]:
        """Forget everything queued or in flight (new session, firmware reset); returns what was pending."""
        self._rx.clear()
        return self._forget(now)

    def _forget(self, now: float) -> list[wire.Sent]:
        pending = [*self._in_flight, *self._commands, *self._job]
        self._in_flight.clear()
        self._in_flight_bytes = 0
        self._numbered_in_flight = 0
        self._commands.clear()
        self._job.clear()
        self._history.clear()
        self._resend_from = None
        self._resend_wait_until = None
        self._stale_repeats = 0
        self._timeouts = 0
        self._last_progress = now
        self._next_number = 1
        self.dead = False
        return pending

    # ---------------------------------------------------------------- what the printer said

    def receive_data(self, data: bytes, now: float) -> list[wire.Event]:
        """Take received bytes; return the events of every complete line."""
        self._rx += data
        events: list[wire.Event] = []
        while True:
            end = self._rx.find(b"\n")
            if end < 0:
                if len(self._rx) > wire.MAX_LINE_BYTES:
                    events.extend(
                        self._receive_line(self._rx[: wire.MAX_LINE_BYTES].decode("ascii", "replace"), now)
                    )
                    self._rx.clear()
                break
            raw = self._rx[:end].decode("utf-8", "replace")
            del self._rx[: end + 1]
            events.extend(self._receive_line(raw, now))
        self._pump(now)
        return events

    def _receive_line(self, raw: str, now: float) -> list[wire.Event]:
        if self.dead:
            return []
        events = wire.parse_line(raw)
        if not events:
            return []
        self._timeouts = 0
        self._last_progress = now
        out: list[wire.Event] = []
        for event in events:
            if isinstance(event, wire.Ok):
                out.append(self._on_ok(event, now))
                continue
            if isinstance(event, wire.Resend):
                out.extend(self._on_resend(event, now))
                continue
            if isinstance(event, wire.Busy):
                self.busy_seen = True
            elif isinstance(event, wire.Capability):
                self.capabilities[event.name] = event.enabled
            elif isinstance(event, wire.FirmwareInfo):
                self.firmware = event.fields
            elif isinstance(event, wire.Start):
                # The firmware rebooted: nothing in flight will be answered, numbering starts over.
                event = wire.Start(tuple(self._forget(now)))
            if self._in_flight and not isinstance(event, wire.Temperature | wire.Busy):
                self._in_flight[0].reply.append(raw.strip())
            out.append(event)
        return out

    def _on_ok(self, ok: wire.Ok, now: float) -> wire.Ok:
        if ok.planner_free is not None and ok.buffer_free is not None:
            self.advanced_ok = True
        reports_temperature = ok.text != "ok" and any(key in ok.text for key in ("T:", "T0:", "B:"))
        target: wire.Sent | None = None
        if ok.line_number is not None:
            # ADVANCED_OK names the line: everything before it in flight is done too (lost oks).
            target = next((sent for sent in self._in_flight if sent.number == ok.line_number), None)
        elif self._resend_wait_until is not None and not reports_temperature:
            self._oks_after_resend = True  # the ok that follows a wire.Resend acknowledges nothing
            self._resend_wait_until = None
        elif reports_temperature:
            # M105 is always sent unnumbered, so "ok T:…" answers the oldest M105 in flight.
            target = next((sent for sent in self._in_flight if sent.poll), None)
        else:
            target = next((sent for sent in self._in_flight if not sent.poll), None)
            # An ADVANCED_OK "ok P.. B.." without N answers an unnumbered line; if the line waiting is
            # numbered, the ok belongs to noise the firmware parsed after flushing: ignore it.
            if target is not None and target.number is not None and ok.planner_free is not None:
                target = None
        acked: list[wire.Sent] = []
        if target is not None:
            while self._in_flight:
                acked.append(self._pop_in_flight())
                if acked[-1] is target:
                    break
            if ok.text != "ok":
                target.reply.append(ok.text)
        return wire.Ok(ok.line_number, ok.planner_free, ok.buffer_free, ok.text, tuple(acked))

    def _on_resend(self, request: wire.Resend, now: float) -> list[wire.Event]:
        number = request.line_number
        waiting = self._oks_after_resend is not False
        if number == self._last_resend and self._stale_repeats > 0:
            self._stale_repeats -= 1
            if waiting:
                self._resend_wait_until = now + self.resend_ok_timeout
            return [wire.Resend(number, repeat=True)]
        if number < self._next_number and number not in self._history:
            self.dead = True
            return [
                wire.Resend(number),
                wire.Error(f"the printer asked for line {number} again; it is no longer known", True),
            ]
        self._stale_repeats = sum(
            1 for sent in self._in_flight if sent.number is not None and sent.number > number
        )
        self._void_in_flight()
        self._last_resend = number
        if number > self._next_number:
            # The firmware expects a line we never sent: tell it where we are instead.
            self._commands.appendleft(wire.Sent(f"M110 N{self._next_number - 1}", "command", word="M110"))
        else:
            self._resend_from = number
            self._resend_caught_up_at = self._next_number
        if waiting:
            self._resend_wait_until = now + self.resend_ok_timeout
        return [wire.Resend(number)]

    # ---------------------------------------------------------------- time

    def next_deadline(self) -> float | None:
        """When ``tick`` next has something to do (monotonic seconds, the caller's clock)."""
        if self.dead:
            return None
        deadline = self._silence_deadline()
        if self._resend_wait_until is not None:
            deadline = min(deadline, self._resend_wait_until)
        return deadline

    def _silence_deadline(self) -> float:
        if any(sent.long_running for sent in self._in_flight):
            return self._last_progress + self.long_command_timeout
        if self._in_flight and self.busy_seen:
            return self._last_progress + self.busy_timeout
        return self._last_progress + self.timeout

    def tick(self, now: float) -> list[wire.Event]:
        """Let time pass: end a wait for the ok after a wire.Resend, count timeouts, poll, declare death."""
        if self.dead:
            return []
        events: list[wire.Event] = []
        if self._resend_wait_until is not None and now >= self._resend_wait_until:
            self._resend_wait_until = None
            if self._oks_after_resend is None:
                self._oks_after_resend = False
        if now >= self._silence_deadline():
            self._timeouts += 1
            self._last_progress = now
            limit = self.max_timeouts_printing if self.job_active else self.max_timeouts_idle
            if self._timeouts >= limit:
                self.dead = True
                events.append(
                    wire.LinkDead(f"the printer did not answer ({self._timeouts} timeouts in a row)")
                )
                return events
            probed = sum(1 for sent in self._in_flight if sent.poll) < 2
            if probed:
                self._write(wire.Sent("M105", "probe", data=b"M105\n", word="M105", poll=True), now)
            events.append(wire.Timeout(self._timeouts, probed))
        self._pump(now)
        return events

    # ---------------------------------------------------------------- what we write

    def data_to_send(self) -> bytes:
        """The bytes to write now (and forget)."""
        data = bytes(self._out)
        self._out.clear()
        return data

    @property
    def in_flight(self) -> tuple[wire.Sent, ...]:
        """Lines written and not acknowledged yet, oldest first."""
        return tuple(self._in_flight)

    @property
    def in_flight_bytes(self) -> int:
        """Bytes of the lines in flight (what may sit in the firmware's receive buffer)."""
        return self._in_flight_bytes

    @property
    def job_backlog(self) -> int:
        """Job lines queued and not written yet."""
        return len(self._job)

    @property
    def job_in_flight(self) -> bool:
        """Whether a job line is queued, in flight or waiting for a resend."""
        return (
            bool(self._job)
            or any(sent.kind == "job" for sent in self._in_flight)
            or self._resend_from is not None
        )

    def _pump(self, now: float) -> None:
        if self.dead or self._resend_wait_until is not None:
            return
        while True:
            if self._resend_from is not None:
                if self._resend_from >= self._resend_caught_up_at:
                    self._resend_from = None
                    continue
                if self._numbered_in_flight:
                    return  # recovering: one line at a time
                sent = self._history[self._resend_from]
                sent.reply.clear()
                self._resend_from += 1
                self._write(sent, now)
                continue
            queue = (
                self._commands if self._commands else (self._job if self._job and not self.hold_job else None)
            )
            if queue is None:
                return
            sent = queue[0]
            if sent.poll:
                sent.data = (sent.command + "\n").encode()
                if not self._may_poll(len(sent.data)):
                    return
                queue.popleft()
                self._write(sent, now)
                continue
            data = self._number(sent)
            if not self._may_send(len(data)):
                return
            queue.popleft()
            sent.number = self._next_number
            sent.data = data
            if sent.word == "M110":
                sent.number = _m110_target(sent.command)
                self._history.clear()
                self._next_number = sent.number
            self._history[sent.number] = sent
            self._history.pop(sent.number - self.history_size, None)
            self._next_number += 1
            self._write(sent, now)

    def _number(self, sent: wire.Sent) -> bytes:
        number = _m110_target(sent.command) if sent.word == "M110" else self._next_number
        body = f"N{number} {sent.command}".encode()
        return body + b"*" + str(wire.checksum(body)).encode() + b"\n"

    def _may_send(self, size: int) -> bool:
        if not self._numbered_in_flight:
            return True
        if not self.advanced_ok:
            return False
        return self._in_flight_bytes + size <= self.rx_buffer_bytes - wire.EMERGENCY_RESERVE

    def _may_poll(self, size: int) -> bool:
        polls = sum(1 for sent in self._in_flight if sent.poll)
        return polls < 2 and self._in_flight_bytes + size <= self.rx_buffer_bytes

    def _write(self, sent: wire.Sent, now: float, *, track: bool = True) -> None:
        if not self._in_flight:
            self._last_progress = now  # the clock for an answer starts now, not at the last line heard
        self._out += sent.data
        if track:
            self._in_flight.append(sent)
            self._in_flight_bytes += len(sent.data)
            self._numbered_in_flight += sent.number is not None
            self.max_in_flight_bytes = max(self.max_in_flight_bytes, self._in_flight_bytes)

    def _pop_in_flight(self) -> wire.Sent:
        sent = self._in_flight.popleft()
        self._in_flight_bytes -= len(sent.data)
        self._numbered_in_flight -= sent.number is not None
        return sent

    def _void_in_flight(self) -> None:
        # Marlin flushed its receive buffer: unnumbered lines there are lost for good (emergency lines did
        # their work on arrival; a lost poll is simply forgotten).
        self._in_flight.clear()
        self._in_flight_bytes = 0
        self._numbered_in_flight = 0


def _is_long(word: str) -> bool:
    return word in wire.LONG_RUNNING_COMMANDS


def _m110_target(command: str) -> int:
    for token in command.split()[1:]:
        if token[:1].upper() == "N" and token[1:].lstrip("-").isdigit():
            return int(token[1:])
    return 0
