"""The Marlin serial protocol line by line, no state and no I/O: our lines (``Sent``, checksums) and what a
Marlin-like firmware says back, parsed into events.

Real firmwares differ in spacing, case and order (``T:21.3 /0.0``, ``T:21.30/ 0.00``, ``ok T:…``,
``Resend: 12`` / ``Resend:12`` / ``rs 12`` / ``Resend: N12``); the parsers accept all of them. The stateful
side (line numbers, flow control, timeouts) is ``printerlynx.agent.marlin``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "EMERGENCY_COMMANDS",
    "EMERGENCY_RESERVE",
    "LONG_RUNNING_COMMANDS",
    "MAX_LINE_BYTES",
    "Action",
    "Busy",
    "Capability",
    "Echo",
    "Error",
    "Event",
    "FirmwareInfo",
    "LinkDead",
    "Ok",
    "Position",
    "Resend",
    "Sent",
    "Start",
    "Temperature",
    "Timeout",
    "Unknown",
    "Wait",
    "checksum",
    "command_word",
    "parse_line",
    "parse_temperatures",
]


@dataclass(frozen=True, slots=True)
class Ok:
    """``ok`` with, when the firmware has ADVANCED_OK, the line number and free planner/command slots."""

    line_number: int | None = None
    planner_free: int | None = None
    buffer_free: int | None = None
    text: str = "ok"
    # Filled in by the protocol core: the commands this ok acknowledged (usually one).
    acked: tuple[object, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class Resend:
    """The firmware asks for every line from ``line_number`` on again."""

    line_number: int
    repeat: bool = False  # a repetition caused by lines that were already on their way (ignored)


@dataclass(frozen=True, slots=True)
class Temperature:
    """Actual and target temperatures by heater (``tool0``…, ``bed``, ``chamber``)."""

    actual: dict[str, float]
    target: dict[str, float]


@dataclass(frozen=True, slots=True)
class Position:
    """An M114 position report (``x``, ``y``, ``z``, ``e``)."""

    axes: dict[str, float]


@dataclass(frozen=True, slots=True)
class Busy:
    """``echo:busy: processing`` / ``paused for user``: the firmware is alive but working."""

    reason: str


@dataclass(frozen=True, slots=True)
class Error:
    """``Error:…``; fatal when the firmware halted (it needs a reset)."""

    message: str
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class Start:
    """``start``: the firmware (re)booted; everything it had queued is gone."""

    # Filled in by the protocol core: the commands that will never be answered now.
    pending: tuple[object, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class Wait:
    """``wait``: idle firmware with NO_TIMEOUTS asking for more."""


@dataclass(frozen=True, slots=True)
class FirmwareInfo:
    """The M115 ``FIRMWARE_NAME:… EXTRUDER_COUNT:…`` line as key/value pairs."""

    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class Capability:
    """One M115 ``Cap:NAME:0|1`` line."""

    name: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class Echo:
    """``echo:…`` (not busy)."""

    text: str


@dataclass(frozen=True, slots=True)
class Action:
    """A host action command: ``//action:pause`` → name "pause"."""

    name: str
    argument: str = ""


@dataclass(frozen=True, slots=True)
class Unknown:
    """A line nothing else matched (logged)."""

    line: str


@dataclass(frozen=True, slots=True)
class Timeout:
    """The firmware was silent too long; ``count`` consecutive times (a poll was sent when ``probed``)."""

    count: int
    probed: bool


@dataclass(frozen=True, slots=True)
class LinkDead:
    """Too many timeouts in a row: the link is considered lost."""

    reason: str


Event = (
    Ok
    | Resend
    | Temperature
    | Position
    | Busy
    | Error
    | Start
    | Wait
    | FirmwareInfo
    | Capability
    | Echo
    | Action
    | Unknown
    | Timeout
    | LinkDead
)

EMERGENCY_COMMANDS = frozenset({"M108", "M112", "M410", "M876"})
LONG_RUNNING_COMMANDS = frozenset(
    {"G4", "G28", "G29", "G30", "G32", "M400", "M226", "M600", "M109", "M190", "M191", "M116", "M303"}
)
EMERGENCY_RESERVE = 16  # receive-buffer bytes kept free for an emergency line and a poll
MAX_LINE_BYTES = 4096  # a "line" longer than this is noise; it is cut and reported


def checksum(data: bytes) -> int:
    """Marlin's checksum: the XOR of every byte."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def command_word(command: str) -> str:
    """``"g1 x10"`` → ``"G1"``; ``"G0028"`` → ``"G28"`` (leading zeros dropped)."""
    word = command.split(None, 1)[0].upper() if command.strip() else ""
    if len(word) > 1 and word[1:].isdigit():
        return word[0] + str(int(word[1:]))
    return word


@dataclass(slots=True, eq=False)
class Sent:
    """One line given to the core; ``tag`` is the caller's (a job offset, a future…)."""

    command: str
    kind: str  # "job" | "command" | "emergency" | "probe"
    tag: object = None
    number: int | None = None
    data: bytes = b""
    reply: list[str] = field(default_factory=list)
    word: str = ""  # "G1", "M105"…
    long_running: bool = False
    poll: bool = False  # M105: always written unnumbered, answered by "ok T:…"


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)"
_TEMP = re.compile(rf"(?<![A-Za-z@])(T\d?|B|C)\s*:\s*({_NUMBER})(?:\s*/\s*({_NUMBER}))?")
_HAS_TEMP = re.compile(rf"(?:^|\s)(?:T\d?|B)\s*:\s*{_NUMBER}")
_OK_FIELD = re.compile(r"\b([NPB])(\d+)\b")
_RESEND = re.compile(r"^(?:resend|rs)\s*:?\s*N?\s*(\d+)", re.IGNORECASE)
_AXIS = re.compile(rf"\b([XYZE])\s*:\s*({_NUMBER})")
_FIRMWARE_FIELD = re.compile(r"([A-Z][A-Z0-9_]*):(.*?)(?=\s+[A-Z][A-Z0-9_]*:|$)")
_CAP = re.compile(r"^Cap:([A-Za-z0-9_]+):\s*([01])")
_FATAL_WORDS = ("kill() called", "halted", "thermal runaway", "mintemp", "maxtemp", "heating failed")
_GARBAGE = re.compile(r"^[^\x21-\x7e]+|[\x00-\x1f\x7f-\uffff]")


def parse_temperatures(text: str) -> Temperature | None:
    """Temperatures in any common format, or None when ``text`` has none (``@:``/``B@:``/``W:`` ignored)."""
    if not _HAS_TEMP.search(text):
        return None
    actual: dict[str, float] = {}
    target: dict[str, float] = {}
    numbered_tools = False
    matches = _TEMP.findall(text)
    for key, _, _ in matches:
        if len(key) == 2:
            numbered_tools = True
    for key, current, wanted in matches:
        if key == "T" and numbered_tools:
            continue  # plain T: repeats the active tool when T0:/T1: are present
        name = {"B": "bed", "C": "chamber", "T": "tool0"}.get(key) or f"tool{key[1]}"
        try:
            actual[name] = float(current)
            if wanted:
                target[name] = float(wanted)
        except ValueError:  # pragma: no cover - the regex only matches numbers
            continue
    if not actual:
        return None
    return Temperature(actual, target)


def _parse_ok(line: str) -> list[Event]:
    rest = line[2:].strip()
    fields = {key: int(value) for key, value in _OK_FIELD.findall(rest) if ":" not in rest}
    events: list[Event] = [
        Ok(fields.get("N"), fields.get("P"), fields.get("B"), text=line),
    ]
    report = parse_temperatures(rest)
    if report is not None:
        events.append(report)
    elif rest.startswith(("C:", "X:")):  # old firmwares answer M114 on the ok line
        axes = _parse_axes(rest)
        if axes:
            events.append(Position(axes))
    return events


def _parse_axes(text: str) -> dict[str, float]:
    before_count = text.split("Count", 1)[0]
    return {axis.lower(): float(value) for axis, value in _AXIS.findall(before_count)}


def _clean(raw: str) -> str:
    """Strip line noise: leading garbage (boot loaders print some before ``start``) and control bytes."""
    return _GARBAGE.sub("", raw).strip()


def parse_line(raw: str) -> list[Event]:
    """The events one received line stands for (usually one; ``ok T:…`` is an Ok and a Temperature)."""
    line = raw.strip()
    if line == "ok":
        return [Ok()]  # by far the most common line: keep it cheap
    if not (line.isascii() and line.isprintable()):
        line = _clean(raw)
    if not line:
        return []
    lower = line.lower()
    if lower == "ok" or lower.startswith("ok "):
        return _parse_ok(line)
    resend = _RESEND.match(line)
    if resend:
        return [Resend(int(resend.group(1)))]
    if lower.startswith(("error:", "!!")):
        message = line.split(":", 1)[1].strip() if lower.startswith("error:") else line[2:].strip()
        return [Error(message, fatal=any(word in message.lower() for word in _FATAL_WORDS))]
    if lower.startswith("echo:"):
        text = line[5:].strip()
        if text.lower().startswith("busy:"):
            return [Busy(text[5:].strip())]
        return [Echo(text)]
    if lower.endswith("start") and len(lower) <= 12:
        return [Start()]
    if lower == "wait":
        return [Wait()]
    if lower.startswith("//"):
        body = line[2:].strip()
        if body.lower().startswith("action:"):
            name, _, argument = body[7:].strip().partition(" ")
            return [Action(name.lower(), argument.strip())]
        return [Echo(body)]
    cap = _CAP.match(line)
    if cap:
        return [Capability(cap.group(1).upper(), cap.group(2) == "1")]
    if line.startswith("FIRMWARE_NAME:"):
        return [FirmwareInfo({key: value.strip() for key, value in _FIRMWARE_FIELD.findall(line)})]
    report = parse_temperatures(line)
    if report is not None:
        return [report]
    if line.startswith("X:"):
        axes = _parse_axes(line)
        if axes:
            return [Position(axes)]
    return [Unknown(line)]
