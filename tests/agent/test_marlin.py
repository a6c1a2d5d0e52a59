"""The Marlin protocol core, fed bytes and driven by a fake clock."""

from __future__ import annotations

import functools
import operator

import pytest

from printerlynx.agent import marlin
from printerlynx.agent.marlin_lines import parse_line, parse_temperatures


def make(**kwargs: object) -> marlin.MarlinProtocol:
    core = marlin.MarlinProtocol(**kwargs)  # type: ignore[arg-type]
    return core


def numbered(number: int, command: str) -> str:
    """The line as Marlin expects it, checksum computed here independently of the core."""
    body = f"N{number} {command}"
    return f"{body}*{functools.reduce(operator.xor, body.encode(), 0)}"


def lines(data: bytes) -> list[str]:
    return [line for line in data.decode().split("\n") if line]


def ok_events(events: list[marlin.Event]) -> list[marlin.Ok]:
    return [event for event in events if isinstance(event, marlin.Ok)]


def acked_commands(events: list[marlin.Event]) -> list[str]:
    return [sent.command for ok in ok_events(events) for sent in ok.acked]  # type: ignore[attr-defined]


# ------------------------------------------------------------------- lines and checksums


def test_checksum_of_the_classic_example() -> None:
    assert marlin.checksum(b"N1 G28") == 18
    assert marlin.checksum(b"N0 M110 N0") == 125


def test_lines_are_numbered_with_checksums_and_m110_resets_numbering() -> None:
    core = make()
    core.send("M110 N0", now=0)
    assert core.data_to_send() == b"N0 M110 N0*125\n"
    core.receive_data(b"ok\n", 0)
    core.send("G28", now=0)
    assert core.data_to_send() == b"N1 G28*18\n"


def test_command_word_normalises() -> None:
    assert marlin.command_word("g1 x10") == "G1"
    assert marlin.command_word("G0028") == "G28"
    assert marlin.command_word("  ") == ""


# ------------------------------------------------------------------- ok in every form


@pytest.mark.parametrize(
    ("line", "number", "planner", "buffer"),
    [
        ("ok", None, None, None),
        ("ok N12 P15 B3", 12, 15, 3),
        ("ok P15 B3", None, 15, 3),
        ("ok T:210.0 /210.0 B:60 /60 @:0 B@:0", None, None, None),
        ("OK", None, None, None),
    ],
)
def test_ok_forms(line: str, number: int | None, planner: int | None, buffer: int | None) -> None:
    ok = parse_line(line)[0]
    assert isinstance(ok, marlin.Ok)
    assert (ok.line_number, ok.planner_free, ok.buffer_free) == (number, planner, buffer)


def test_ok_with_temperatures_is_also_a_temperature_report() -> None:
    events = parse_line("ok T:210.0 /210.0 B:60 /60 @:0 B@:0")
    report = events[1]
    assert isinstance(report, marlin.Temperature)
    assert report.actual == {"tool0": 210.0, "bed": 60.0}
    assert report.target == {"tool0": 210.0, "bed": 60.0}


# ------------------------------------------------------------------- temperatures


@pytest.mark.parametrize(
    ("line", "actual", "target"),
    [
        ("T:21.3 /0.0 B:22.1 /0.0", {"tool0": 21.3, "bed": 22.1}, {"tool0": 0.0, "bed": 0.0}),
        ("T:21.30/ 0.00", {"tool0": 21.3}, {"tool0": 0.0}),
        (" T:21.30 /0.00 B:20.0 /0.0 @:0 B@:0", {"tool0": 21.3, "bed": 20.0}, {"tool0": 0.0, "bed": 0.0}),
        (
            "T:200.0 /200.0 B:60.0 /60.0 T0:200.0 /200.0 T1:25.0 /0.0 @:0 B@:0 @0:0 @1:0",
            {"tool0": 200.0, "tool1": 25.0, "bed": 60.0},
            {"tool0": 200.0, "tool1": 0.0, "bed": 60.0},
        ),
        (
            "T0:20.0 /0.0 T1:21.0 /0.0 T2:22 /0 T3:23/0 B:24 /0",
            {f"tool{i}": 20.0 + i for i in range(4)} | {"bed": 24.0},
            None,
        ),
        ("T:190.5 /200 B:55 /60 C:35.2 /40", {"tool0": 190.5, "bed": 55.0, "chamber": 35.2}, None),
        ("T:25.0 E:0 W:?", {"tool0": 25.0}, {}),
        ("B:22.1 T:21.3", {"tool0": 21.3, "bed": 22.1}, {}),
    ],
)
def test_temperature_formats(line: str, actual: dict[str, float], target: dict[str, float] | None) -> None:
    report = parse_temperatures(line)
    assert report is not None
    assert report.actual == actual
    if target is not None:
        assert report.target == target


def test_autoreport_line_without_ok_is_a_report_and_acknowledges_nothing() -> None:
    core = make()
    core.send("G1 X1", now=0)
    core.data_to_send()
    events = core.receive_data(b" T:21.3 /0.0 B:22.1 /0.0 @:0 B@:0\n", 0)
    assert [type(event) for event in events] == [marlin.Temperature]
    assert len(core.in_flight) == 1


def test_lines_split_across_reads_and_crlf() -> None:
    core = make()
    core.send("G28", now=0)
    assert core.receive_data(b"o", 0) == []
    events = core.receive_data(b"k\r\n", 0)
    assert acked_commands(events) == ["G28"]


# ------------------------------------------------------------------- other replies


def test_m115_firmware_line_and_capabilities() -> None:
    core = make()
    events = core.receive_data(
        b"FIRMWARE_NAME:Marlin 2.1.2 (Github) SOURCE_CODE_URL:https://github.com/MarlinFirmware/Marlin "
        b"PROTOCOL_VERSION:1.0 MACHINE_TYPE:3D Printer EXTRUDER_COUNT:2 UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff\n"
        b"Cap:AUTOREPORT_TEMP:1\nCap:EMERGENCY_PARSER:1\nCap:EEPROM:0\n",
        0,
    )
    info = events[0]
    assert isinstance(info, marlin.FirmwareInfo)
    assert info.fields["FIRMWARE_NAME"] == "Marlin 2.1.2 (Github)"
    assert info.fields["SOURCE_CODE_URL"] == "https://github.com/MarlinFirmware/Marlin"
    assert info.fields["EXTRUDER_COUNT"] == "2"
    assert core.capabilities == {"AUTOREPORT_TEMP": True, "EMERGENCY_PARSER": True, "EEPROM": False}
    assert core.firmware["MACHINE_TYPE"] == "3D Printer"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("echo:busy: processing", marlin.Busy("processing")),
        ("echo:busy: paused for user", marlin.Busy("paused for user")),
        ("Error:Printer halted. kill() called!", marlin.Error("Printer halted. kill() called!", fatal=True)),
        (
            "Error:MINTEMP triggered, system stopped! Heater_ID: 0",
            marlin.Error("MINTEMP triggered, system stopped! Heater_ID: 0", True),
        ),
        (
            "Error:checksum mismatch, Last Line: 3",
            marlin.Error("checksum mismatch, Last Line: 3", fatal=False),
        ),
        ("start", marlin.Start()),
        ("\x00\xfe\xffstart", marlin.Start()),
        ("wait", marlin.Wait()),
        ("//action:pause", marlin.Action("pause")),
        ("// action:prompt_begin Filament runout", marlin.Action("prompt_begin", "Filament runout")),
        ('echo:Unknown command: "G999"', marlin.Echo('Unknown command: "G999"')),
        (
            "X:10.00 Y:20.00 Z:0.30 E:1.50 Count X:800 Y:1600 Z:120",
            marlin.Position({"x": 10.0, "y": 20.0, "z": 0.3, "e": 1.5}),
        ),
        ("something else", marlin.Unknown("something else")),
        ("Resend: 12", marlin.Resend(12)),
        ("Resend:12", marlin.Resend(12)),
        ("rs 12", marlin.Resend(12)),
        ("Resend: N12", marlin.Resend(12)),
    ],
)
def test_reply_lines(line: str, expected: marlin.Event) -> None:
    assert parse_line(line) == [expected]


def test_busy_keepalive_extends_the_timeout() -> None:
    core = make(timeout=10.0, busy_timeout=3.0)
    core.send("G1 X1", now=0)
    core.data_to_send()
    assert core.receive_data(b"echo:busy: processing\n", 2.5) == [marlin.Busy("processing")]
    assert core.tick(5.0) == []  # 2.5 s since the keepalive
    assert core.receive_data(b"echo:busy: processing\n", 5.0)
    assert core.tick(7.9) == []
    assert core.tick(8.1) == [marlin.Timeout(1, probed=True)]


def test_reply_lines_are_collected_for_the_command() -> None:
    core = make()
    sent = core.send("M114", now=0)
    events = core.receive_data(b"X:1.00 Y:2.00 Z:3.00 E:0.00 Count X:1 Y:2 Z:3\nok\n", 0)
    assert acked_commands(events) == ["M114"]
    assert sent.reply == ["X:1.00 Y:2.00 Z:3.00 E:0.00 Count X:1 Y:2 Z:3"]


# ------------------------------------------------------------------- resends


def stream(core: marlin.MarlinProtocol, count: int, now: float = 0) -> None:
    core.queue_job(((f"G1 X{i}", i) for i in range(1, count + 1)), now)


def test_resend_of_the_line_in_flight_with_ok_after_resend_sends_it_once() -> None:
    core = make()
    stream(core, 3)
    assert lines(core.data_to_send()) == [numbered(1, "G1 X1")]
    core.receive_data(b"Error:checksum mismatch, Last Line: 0\nResend: 1\n", 0)
    assert core.data_to_send() == b""  # waits: an ok may follow the Resend
    events = core.receive_data(b"ok\n", 0.01)
    assert acked_commands(events) == []  # the ok after Resend acknowledges nothing
    assert lines(core.data_to_send()) == [numbered(1, "G1 X1")]
    events = core.receive_data(b"ok\n", 0.02)
    assert acked_commands(events) == ["G1 X1"]
    assert lines(core.data_to_send()) == [numbered(2, "G1 X2")]


def test_resend_without_ok_from_older_firmware_resends_after_a_short_wait() -> None:
    core = make(resend_ok_timeout=0.5)
    stream(core, 3)
    core.data_to_send()
    core.receive_data(b"Resend: 1\n", 0)
    assert core.data_to_send() == b""
    core.tick(0.6)
    assert lines(core.data_to_send()) == [numbered(1, "G1 X1")]
    core.receive_data(b"ok\n", 0.7)
    # Learned: this firmware sends no ok after Resend, so the next resend goes out at once.
    assert lines(core.data_to_send()) == [numbered(2, "G1 X2")]
    core.receive_data(b"rs 2\n", 0.8)
    assert lines(core.data_to_send()) == [numbered(2, "G1 X2")]


def test_resend_of_an_older_line_rewinds_and_resends_from_there() -> None:
    core = make()
    stream(core, 5)
    for _ in range(3):
        core.data_to_send()
        core.receive_data(b"ok\n", 0)
    assert lines(core.data_to_send()) == [numbered(4, "G1 X4")]
    core.receive_data(b"Resend: N2\nok\n", 0)
    sent: list[str] = []
    for _ in range(4):
        sent += lines(core.data_to_send())
        core.receive_data(b"ok\n", 0)
    assert sent == [numbered(2, "G1 X2"), numbered(3, "G1 X3"), numbered(4, "G1 X4"), numbered(5, "G1 X5")]


def test_resend_of_an_unknown_old_line_is_fatal() -> None:
    core = make(history_size=4)
    stream(core, 10)
    for _ in range(9):
        core.data_to_send()
        core.receive_data(b"ok\n", 0)
    events = core.receive_data(b"Resend: 1\n", 0)
    assert any(isinstance(event, marlin.Error) and event.fatal for event in events)
    assert core.dead


def test_resend_with_several_lines_in_flight_ignores_the_stale_repeats() -> None:
    core = make()
    core.receive_data(b"ok P15 B3\n", 0)  # learn ADVANCED_OK
    stream(core, 6)
    first = lines(core.data_to_send())
    assert len(first) > 1
    # Line 1 fails; the lines behind it were on their way and are refused too.
    refusals = b"".join(
        b"Error:Line Number is not Last Line Number+1, Last Line: 0\nResend: 1\nok\n" for _ in first[1:]
    )
    core.receive_data(b"Error:checksum mismatch, Last Line: 0\nResend: 1\nok\n" + refusals, 0)
    resent = lines(core.data_to_send())
    assert resent == [numbered(1, "G1 X1")]
    events = core.receive_data(b"ok N1 P15 B3\n", 0)
    assert acked_commands(events) == ["G1 X1"]
    assert lines(core.data_to_send())[0] == numbered(2, "G1 X2")


# ------------------------------------------------------------------- flow control


def test_one_line_in_flight_without_advanced_ok() -> None:
    core = make()
    stream(core, 5)
    assert len(lines(core.data_to_send())) == 1
    core.receive_data(b"ok\n", 0)
    assert len(lines(core.data_to_send())) == 1


def test_buffer_budget_is_never_exceeded_with_advanced_ok() -> None:
    core = make(rx_buffer_bytes=128)
    core.receive_data(b"ok P15 B3\n", 0)
    core.queue_job(((f"G1 X{i}.123 Y{i}.456 E{i}.789 F1200", i) for i in range(1, 300)), 0)
    written = 0
    number = 0
    while core.job_backlog or core.in_flight:
        written += len(lines(core.data_to_send()))
        assert core.in_flight_bytes <= 128 - marlin.EMERGENCY_RESERVE
        assert len(core.in_flight) >= 1
        number += 1
        core.receive_data(f"ok N{number} P10 B1\n".encode(), 0)
    assert written == 299
    assert core.max_in_flight_bytes > 64  # several lines were in flight at once


def test_a_long_line_still_goes_out_alone() -> None:
    core = make(rx_buffer_bytes=32)
    core.receive_data(b"ok P15 B3\n", 0)
    core.send("M117 " + "x" * 60, now=0)
    assert len(lines(core.data_to_send())) == 1


def test_commands_slot_in_between_job_lines_and_hold_stops_the_job() -> None:
    core = make()
    stream(core, 3)
    assert lines(core.data_to_send()) == [numbered(1, "G1 X1")]
    core.send("M106 S255", now=0)
    core.receive_data(b"ok\n", 0)
    assert lines(core.data_to_send()) == [numbered(2, "M106 S255")]
    core.hold_job = True
    core.receive_data(b"ok\n", 0)
    assert core.data_to_send() == b""
    core.hold_job = False
    core.release(0)
    assert lines(core.data_to_send()) == [numbered(3, "G1 X2")]


def test_emergency_commands_jump_the_queue_with_emergency_parser() -> None:
    core = make()
    core.receive_data(b"Cap:EMERGENCY_PARSER:1\n", 0)
    stream(core, 3)
    core.data_to_send()
    core.send("M108", now=0)
    assert core.data_to_send() == b"M108\n"  # at once, unnumbered, while a job line is in flight
    events = core.receive_data(b"ok\nok\n", 0)
    assert acked_commands(events) == ["G1 X1", "M108"]


def test_m112_is_always_immediate_and_m108_waits_without_emergency_parser() -> None:
    core = make()
    stream(core, 3)
    core.data_to_send()
    core.send("M108", now=0)
    assert core.data_to_send() == b""
    core.send("M112", now=0)
    assert core.data_to_send() == b"M112\n"


# ------------------------------------------------------------------- timeouts


def test_lost_ok_is_recovered_by_an_m105_poll() -> None:
    core = make(timeout=5.0)
    stream(core, 3)
    core.data_to_send()
    assert core.next_deadline() == 5.0
    assert core.tick(4.9) == []
    assert core.tick(5.0) == [marlin.Timeout(1, probed=True)]
    assert core.data_to_send() == b"M105\n"
    events = core.receive_data(b"ok T:21.0 /0.0 B:21.0 /0.0\n", 5.1)
    assert acked_commands(events) == ["G1 X1", "M105"]  # the poll's answer stands in for the lost ok
    assert lines(core.data_to_send()) == [numbered(2, "G1 X2")]


def test_long_running_commands_are_exempt_from_polling() -> None:
    core = make(timeout=5.0, long_command_timeout=600.0)
    core.send("M109 S210", now=0)
    core.data_to_send()
    assert core.tick(100.0) == []
    assert core.data_to_send() == b""


def test_repeated_timeouts_kill_the_link_two_idle_five_printing() -> None:
    idle = make(timeout=1.0)
    idle.send("G28 X", now=0)  # long running, but not longer than long_command_timeout
    idle.long_command_timeout = 1.0
    assert idle.tick(1.0) == [marlin.Timeout(1, probed=True)]
    assert [type(event) for event in idle.tick(2.0)] == [marlin.LinkDead]
    assert idle.dead and idle.tick(10.0) == []

    printing = make(timeout=1.0)
    printing.job_active = True
    stream(printing, 2)
    kinds = [type(event) for now in range(1, 6) for event in printing.tick(float(now))]
    assert kinds == [marlin.Timeout] * 4 + [marlin.LinkDead]


def test_any_line_resets_the_timeout_count() -> None:
    core = make(timeout=1.0)
    core.send("G1 X1", now=0)
    core.tick(1.0)
    core.receive_data(b"echo:still here\n", 1.5)
    assert core.tick(2.4) == []
    assert core.tick(2.5) == [marlin.Timeout(1, probed=True)]  # counted from 1 again


def test_start_mid_job_resets_and_reports_what_was_pending() -> None:
    core = make()
    stream(core, 3)
    core.data_to_send()
    events = core.receive_data(b"\xfe\x00start\n", 0)
    start = events[0]
    assert isinstance(start, marlin.Start)
    assert [sent.command for sent in start.pending] == ["G1 X1", "G1 X2", "G1 X3"]  # type: ignore[attr-defined]
    assert core.in_flight == () and core.job_backlog == 0
