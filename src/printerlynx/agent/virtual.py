"""A Marlin-like printer simulator speaking bytes: the ``virtual`` adapter, tests, the demo and benchmarks.

It follows Marlin's ``queue.cpp`` closely where hosts can tell the difference: a receive buffer of
``rx_buffer_size`` bytes that drops what does not fit (counted in ``rx_overflows``), a command queue of
``bufsize`` lines filled only between commands, line numbers and checksums checked on lines starting with
``N`` (``Error:…`` then ``Resend: <last+1>`` and, like Marlin 2.1, ``ok``), ``ok`` after each command (with
ADVANCED_OK ``ok N<n> P<planner> B<queue>``), a planner of ``block_buffer_size`` moves that take time,
heaters that heat and cool, busy keepalives during long commands, M112/M108/M410 handled on arrival with
EMERGENCY_PARSER. ``speed`` scales simulated time (``math.inf``: moves and heating are instant); ``baud``
limits the link to baud/10 bytes/s each way and ``line_latency`` adds firmware time per command.

Faults for tests are line numbers in the options: ``checksum_errors``, ``drop_lines`` (lost in transit),
``drop_oks``, ``busy_lines`` (line → seconds busy), ``reset_at_line``, ``disconnect_at_line`` and
``hang_at_line``. Each fires
once. ``executed`` records every command run, in order, so tests can check a job arrived exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any

from printerlynx.agent import virtual_heaters as heaters
from printerlynx.agent.marlin_lines import checksum, command_word
from printerlynx.agent.transports.virtual import VirtualLink

__all__ = ["VirtualLink", "VirtualOptions", "VirtualPrinter"]


@dataclass
class VirtualOptions:
    """How the simulated printer behaves (every field has a sensible default)."""

    autoreport_temp: bool = True
    emergency_parser: bool = True
    advanced_ok: bool = False
    ok_after_resend: bool = True
    extruders: int = 1
    speed: float = 1.0
    baud: int = 0
    line_latency: float = 0.0
    rx_buffer_size: int = 128
    bufsize: int = 4
    block_buffer_size: int = 16
    keepalive_interval: float = 2.0
    reset_on_connect: bool = True
    checksum_errors: set[int] = field(default_factory=set)
    drop_lines: set[int] = field(default_factory=set)
    drop_oks: set[int] = field(default_factory=set)
    busy_lines: dict[int, float] = field(default_factory=dict)
    reset_at_line: int | None = None
    disconnect_at_line: int | None = None
    hang_at_line: int | None = None  # the firmware goes silent (a crashed board still on USB)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> VirtualOptions:
        """Options from a config mapping; unknown keys are refused with a clear message."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown virtual printer option(s): {', '.join(unknown)}")
        options = cls(**values)
        options.checksum_errors = set(options.checksum_errors)
        options.drop_lines = set(options.drop_lines)
        options.drop_oks = set(options.drop_oks)
        options.busy_lines = {int(key): float(value) for key, value in dict(options.busy_lines).items()}
        return options


class VirtualPrinter:
    """The simulated firmware; ``connect()`` gives a link, the printer itself outlives links."""

    def __init__(self, options: VirtualOptions | None = None) -> None:
        self.options = options or VirtualOptions()
        self.executed: list[str] = []
        self.rx_overflows = 0
        self.max_rx_used = 0
        self.resends_requested = 0
        self.unplugged_until = 0.0
        self.position = {"x": 0.0, "y": 0.0, "z": 0.0, "e": 0.0}
        self.heaters: dict[str, list[float]] = {}  # name → [temperature, target]
        self._link: VirtualLink | None = None
        self._autoreport_interval = 0.0
        self._rx = bytearray()
        self._queue: deque[tuple[str, int | None]] = deque()
        self._wake = asyncio.Event()
        self._emergency_line = bytearray()
        self._cancel_wait = False
        self._blocks: deque[float] = deque()
        self._last_n = 0
        self._halted = False
        self._relative = False
        self._relative_e = False
        self._feedrate = 3000.0
        self._thermal_at = 0.0
        self._reboot(announce=False)

    # ---------------------------------------------------------------- links

    def connect(self) -> VirtualLink:
        """Open a link (closing any previous one); raises ``OSError`` while unplugged."""
        loop = asyncio.get_running_loop()
        if loop.time() < self.unplugged_until:
            raise FileNotFoundError("virtual printer is unplugged")
        if self._link is not None:
            self._link.lose()
            self.hang_up(self._link)
        link = VirtualLink(self)
        self._link = link
        self._wake = asyncio.Event()
        link.tasks = [loop.create_task(self._firmware(link)), loop.create_task(self._autoreport(link))]
        if self.options.reset_on_connect:
            self._reboot()
        return link

    def disconnect(self, unplug_for: float = 0.0) -> None:
        """Pull the cable: the host reads EOF; ``connect`` fails for ``unplug_for`` seconds."""
        self.unplugged_until = asyncio.get_running_loop().time() + unplug_for
        if self._link is not None:
            link, self._link = self._link, None
            link.lose()
            self.hang_up(link)

    def hang_up(self, link: VirtualLink) -> None:
        """Stop serving ``link``."""
        if self._link is link:
            self._link = None
        for task in link.tasks:
            if not task.done() and task is not asyncio.current_task():
                task.cancel()

    def _send(self, text: str) -> None:
        if self._link is not None:
            self._link.emit(text.encode("latin-1", "replace"))

    def _reboot(self, *, announce: bool = True) -> None:
        self._rx.clear()
        self._queue.clear()
        self._blocks.clear()
        self._last_n = 0
        self._halted = False
        self._autoreport_interval = 0.0
        self._thermal_at = _now()
        names = [f"tool{index}" for index in range(self.options.extruders)] + ["bed"]
        self.heaters = {name: [self.heaters.get(name, [heaters.AMBIENT])[0], 0.0] for name in names}
        if announce:
            self._send("\x00\xfestart\necho:Marlin 2.1.2 (virtual)\n")

    # ---------------------------------------------------------------- bytes arriving

    def arrive(self, link: VirtualLink, data: bytes) -> None:
        """Bytes reach the firmware's receive buffer (what does not fit is lost, as on real boards)."""
        if link is not self._link or self._halted:
            return
        if self.options.emergency_parser:
            self._scan_emergency(data)
            if self._halted:
                return
        room = self.options.rx_buffer_size - len(self._rx)
        if len(data) > room:
            self.rx_overflows += 1
            data = data[: max(room, 0)]
        self._rx += data
        self.max_rx_used = max(self.max_rx_used, len(self._rx))
        self._wake.set()

    def _scan_emergency(self, data: bytes) -> None:
        lines = (bytes(self._emergency_line) + data).split(b"\n")
        self._emergency_line = bytearray(lines.pop()[-100:])
        for line in lines:
            if b"M1" not in line and b"M4" not in line:
                continue  # the common case, kept cheap: this runs on every byte received
            text = line.decode("ascii", "replace").strip()
            if text.startswith("N"):
                text = text.split(" ", 1)[-1]
            self._emergency(command_word(text.split("*", 1)[0]))

    def _emergency(self, word: str) -> None:
        if word == "M108":
            self._cancel_wait = True
        elif word == "M112":
            self._kill()
        elif word == "M410":
            self._blocks.clear()

    def _kill(self) -> None:
        self._halted = True
        self._queue.clear()
        self._rx.clear()
        for heater in self.heaters.values():
            heater[1] = 0.0
        self._send("Error:Printer halted. kill() called!\n")

    # ---------------------------------------------------------------- Marlin's get_serial_commands

    def _pull_lines(self, link: VirtualLink) -> None:
        while len(self._queue) < self.options.bufsize and not self._halted:
            end = self._rx.find(b"\n")
            if end < 0:
                return
            raw = self._rx[:end].decode("ascii", "replace").strip()
            del self._rx[: end + 1]
            if raw:
                self._accept(raw, link)

    def _accept(self, line: str, link: VirtualLink) -> None:
        number: int | None = None
        command = line
        if line.startswith("N"):
            head, _, command = line.partition(" ")
            command, star, sent_sum = command.rpartition("*") if "*" in command else (command, "", "")
            number = int(head[1:]) if head[1:].lstrip("-").isdigit() else -1
            if number in self.options.drop_lines:
                self.options.drop_lines.discard(number)
                return  # lost in transit: the next line will be out of sequence
            is_m110 = command_word(command) == "M110"
            if number != self._last_n + 1 and not is_m110:
                return self._line_error("Line Number is not Last Line Number+1")
            if not star:
                return self._line_error("No Checksum with line number")
            if (
                number in self.options.checksum_errors
                or str(checksum(line.rpartition("*")[0].encode())) != sent_sum
            ):
                self.options.checksum_errors.discard(number)
                return self._line_error("checksum mismatch")
            self._last_n = number
            if is_m110:
                self._last_n = int(_value(command, "N", number))
            if number == self.options.reset_at_line:
                self.options.reset_at_line = None
                return self._reboot()
            if number == self.options.hang_at_line:
                self.options.hang_at_line = None
                self._halted = True
                return None
            if number == self.options.disconnect_at_line:
                self.options.disconnect_at_line = None
                return self.disconnect()
        command = command.strip()
        if not self.options.emergency_parser and command_word(command) in ("M108", "M112", "M410"):
            self._emergency(command_word(command))  # Marlin acts on these as soon as it reads them
        self._queue.append((command, number))

    def _line_error(self, message: str) -> None:
        self.resends_requested += 1
        self._rx.clear()  # Marlin empties its receive buffer before asking again
        self._send(f"Error:{message}, Last Line: {self._last_n}\nResend: {self._last_n + 1}\n")
        if self.options.ok_after_resend:
            self._send("ok\n")

    # ---------------------------------------------------------------- the main loop

    async def _firmware(self, link: VirtualLink) -> None:
        while link is self._link:
            self._pull_lines(link)
            if link is not self._link:
                return
            if not self._queue or self._halted:
                self._wake.clear()
                await self._wake.wait()
                continue
            command, number = self._queue.popleft()
            # Always yield: with instant moves and a host answering in the same call stack, the loop would
            # otherwise never let anything else run.
            await asyncio.sleep(self.options.line_latency)
            if number is not None and number in self.options.busy_lines:
                await self._busy(link, _now() + self.options.busy_lines.pop(number))
            reply = await self._execute(command, link)
            if self._halted or link is not self._link:
                continue
            if number is not None and number in self.options.drop_oks:
                self.options.drop_oks.discard(number)
                continue
            if reply is not None:
                self._send(reply + "\n")
                continue
            if self.options.advanced_ok:
                n_part = f" N{number}" if number is not None else ""
                self._send(f"ok{n_part} P{self._planner_free()} B{self.options.bufsize - len(self._queue)}\n")
            else:
                self._send("ok\n")

    async def _busy(self, link: VirtualLink, until: float, *, done: Any = None, report: bool = False) -> None:
        """Wait until ``until`` (or ``done()``), with keepalives and, when heating, temperature lines."""
        next_keepalive = _now() + self.options.keepalive_interval
        next_report = _now() + 1.0
        while link is self._link and not self._halted:
            now = _now()
            if (done is not None and done()) or (done is None and now >= until):
                return
            if now >= next_keepalive:
                self._send("echo:busy: processing\n")
                next_keepalive = now + self.options.keepalive_interval
            if report and now >= next_report:
                self._send(self._temperatures() + " W:?\n")
                next_report = now + 1.0
            step = min(0.05, max(until - now, 0.0005)) if done is None else 0.02
            await asyncio.sleep(step)

    async def _execute(self, command: str, link: VirtualLink) -> str | None:
        """Run one command; returns the full reply for those that answer themselves (M105)."""
        word = command_word(command)
        self.executed.append(command)
        if word in ("G0", "G1", "G2", "G3"):
            await self._move(command, link)
        elif word == "G28":
            await self._busy(link, self._drain_time() + _scaled(2.0, self.options.speed))
            self._blocks.clear()
            self.position.update(x=0.0, y=0.0, z=0.0)
        elif word == "G4":
            seconds = _value(command, "S", 0.0) + _value(command, "P", 0.0) / 1000
            await self._busy(link, self._drain_time() + _scaled(seconds, self.options.speed))
        elif word in ("G90", "G91"):
            self._relative = word == "G91"
            self._relative_e = self._relative
        elif word in ("M82", "M83"):
            self._relative_e = word == "M83"
        elif word == "G92":
            for axis in "xyze":
                if axis.upper() in command.upper():
                    self.position[axis] = _value(command, axis.upper(), 0.0)
        elif word in ("M104", "M140", "M109", "M190"):
            await self._heat(word, command, link)
        elif word == "M105":
            return "ok" + self._temperatures()
        elif word == "M155":
            self._autoreport_interval = _value(command, "S", 0.0)
            self._wake.set()
        elif word == "M114":
            self._send(
                " ".join(f"{axis.upper()}:{value:.2f}" for axis, value in self.position.items()) + "\n"
            )
        elif word == "M115":
            self._send_capabilities()
        elif word == "M400":
            await self._busy(link, self._drain_time())
        elif word == "M113":
            self.options.keepalive_interval = _value(command, "S", 2.0) or 2.0
        elif not word[:1].isalpha() or not word[1:].isdigit():
            self._send(f'echo:Unknown command: "{command}"\n')
        return None

    def _send_capabilities(self) -> None:
        caps = {
            "AUTOREPORT_TEMP": self.options.autoreport_temp,
            "EMERGENCY_PARSER": self.options.emergency_parser,
            "HOST_ACTION_COMMANDS": True,
            "EEPROM": False,
        }
        self._send(
            "FIRMWARE_NAME:Marlin 2.1.2 (virtual) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin "
            f"PROTOCOL_VERSION:1.0 MACHINE_TYPE:Printerlynx Virtual EXTRUDER_COUNT:{self.options.extruders}\n"
            + "".join(f"Cap:{name}:{int(enabled)}\n" for name, enabled in caps.items())
        )

    # ---------------------------------------------------------------- motion

    def _planner_free(self) -> int:
        now = _now()
        while self._blocks and self._blocks[0] <= now:
            self._blocks.popleft()
        return self.options.block_buffer_size - len(self._blocks)

    def _drain_time(self) -> float:
        return self._blocks[-1] if self._blocks else _now()

    async def _move(self, command: str, link: VirtualLink) -> None:
        self._feedrate = _value(command, "F", self._feedrate) or self._feedrate
        distance = 0.0
        for axis in "xyze":
            letter = axis.upper()
            if f" {letter}" not in f" {command.upper()}":
                continue
            value = _value(command, letter, 0.0)
            relative = self._relative_e if axis == "e" else self._relative
            target = self.position[axis] + value if relative else value
            if axis != "e":
                distance += (target - self.position[axis]) ** 2
            self.position[axis] = target
        duration = _scaled(math.sqrt(distance) / (self._feedrate / 60), self.options.speed)
        if duration <= 0:
            return
        while self._planner_free() <= 0:  # the planner is full: Marlin blocks here (with keepalives)
            await self._busy(link, self._blocks[0])
        self._blocks.append(max(_now(), self._drain_time()) + duration)

    # ---------------------------------------------------------------- heaters

    def _update_heaters(self) -> None:
        now = _now()
        speed = self.options.speed
        heaters.update(self.heaters, (now - self._thermal_at) * speed if math.isfinite(speed) else math.inf)
        self._thermal_at = now

    def _temperatures(self) -> str:
        self._update_heaters()
        return heaters.report(self.heaters)

    async def _heat(self, word: str, command: str, link: VirtualLink) -> None:
        self._update_heaters()
        name = "bed" if word in ("M140", "M190") else f"tool{int(_value(command, 'T', 0))}"
        if name not in self.heaters:
            self._send(f"echo:Invalid extruder {name}\n")
            return
        heater = self.heaters[name]
        heater[1] = _value(command, "S", _value(command, "R", heater[1]))
        if word in ("M109", "M190") and heater[1] > heater[0]:
            self._cancel_wait = False

            def reached() -> bool:
                self._update_heaters()
                return self._cancel_wait or heater[0] >= heater[1] - 1.0

            await self._busy(link, math.inf, done=reached, report=True)
            self._cancel_wait = False

    async def _autoreport(self, link: VirtualLink) -> None:
        while link is self._link:
            if self._autoreport_interval > 0 and not self._halted:
                self._send(self._temperatures() + "\n")
                await asyncio.sleep(self._autoreport_interval)
            else:
                await asyncio.sleep(0.1)


def _now() -> float:
    with contextlib.suppress(RuntimeError):
        return asyncio.get_running_loop().time()
    return 0.0


def _scaled(seconds: float, speed: float) -> float:
    return 0.0 if not math.isfinite(speed) else max(seconds, 0.0) / speed


def _value(command: str, letter: str, default: float) -> float:
    """The number after ``letter`` in a G-code command (``G1 X10.5`` → 10.5 for "X")."""
    for token in command.upper().split()[1:]:
        if token.startswith(letter):
            try:
                return float(token[1:])
            except ValueError:
                return default
    return default
