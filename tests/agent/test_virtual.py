"""The simulator spoken to in raw bytes, as a firmware would be."""

from __future__ import annotations

import asyncio
import functools
import math
import operator
from collections.abc import Awaitable, Callable

import pytest

from printerlynx.agent.virtual import VirtualLink, VirtualOptions, VirtualPrinter


def numbered(number: int, command: str) -> bytes:
    body = f"N{number} {command}"
    return f"{body}*{functools.reduce(operator.xor, body.encode(), 0)}\n".encode()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(scenario(), 30)

    asyncio.run(bounded())


async def read_until(link: VirtualLink, needle: str, timeout: float = 5.0) -> list[str]:
    """Lines received up to and including the first that starts with ``needle``."""
    received: list[str] = []
    buffer = b""
    async with asyncio.timeout(timeout):
        while True:
            buffer += await link.read()
            *complete, rest = buffer.split(b"\n")
            buffer = rest
            for raw in complete:
                line = raw.decode("utf-8", "replace")
                received.append(line)
                if line.startswith(needle) or (needle == "start" and line.endswith(needle)):
                    return received


def test_lines_numbers_and_checksums_are_checked_like_marlin() -> None:
    async def scenario() -> None:
        printer = VirtualPrinter(VirtualOptions(speed=math.inf, reset_on_connect=False))
        link = printer.connect()
        link.write(numbered(0, "M110 N0"))
        assert await read_until(link, "ok") == ["ok"]
        link.write(b"N1 G28*99\n")
        assert await read_until(link, "ok") == ["Error:checksum mismatch, Last Line: 0", "Resend: 1", "ok"]
        link.write(numbered(2, "G28"))
        assert await read_until(link, "ok") == [
            "Error:Line Number is not Last Line Number+1, Last Line: 0",
            "Resend: 1",
            "ok",
        ]
        link.write(b"N1 G28\n")
        assert (await read_until(link, "ok"))[:2] == [
            "Error:No Checksum with line number, Last Line: 0",
            "Resend: 1",
        ]
        link.write(numbered(1, "G28"))
        await read_until(link, "ok")
        assert printer.executed == ["M110 N0", "G28"]
        assert printer.resends_requested == 3
        await link.close()

    run(scenario)


def test_m115_capabilities_and_advanced_ok() -> None:
    async def scenario() -> None:
        options = VirtualOptions(speed=math.inf, advanced_ok=True, emergency_parser=False, extruders=2)
        printer = VirtualPrinter(options)
        link = printer.connect()
        assert (await read_until(link, "start"))[-1].endswith("start")
        link.write(numbered(1, "M115"))
        reply = await read_until(link, "ok")
        assert reply[0].startswith("FIRMWARE_NAME:Marlin") and "EXTRUDER_COUNT:2" in reply[0]
        assert "Cap:AUTOREPORT_TEMP:1" in reply and "Cap:EMERGENCY_PARSER:0" in reply
        assert reply[-1] == "ok N1 P16 B4"
        link.write(b"M105\n")
        temperatures = (await read_until(link, "ok"))[-1]
        assert temperatures.startswith("ok T:21.00 /0.00 B:21.00 /0.00 T0:21.00 /0.00 T1:21.00 /0.00")
        await link.close()

    run(scenario)


def test_heaters_heat_and_cool_and_m109_waits_with_keepalives() -> None:
    async def scenario() -> None:
        printer = VirtualPrinter(VirtualOptions(speed=100.0, keepalive_interval=0.05, reset_on_connect=False))
        link = printer.connect()
        link.write(b"M109 S60\n")  # 39 °C at 3 °C/s: 13 simulated s, 0.13 real
        reply = await read_until(link, "ok")
        assert "echo:busy: processing" in reply
        assert printer.heaters["tool0"][0] >= 59.0
        link.write(b"M104 S0\n")
        await read_until(link, "ok")
        await asyncio.sleep(0.2)
        link.write(b"M105\n")
        cooled = (await read_until(link, "ok"))[-1]
        assert float(cooled.split("T:")[1].split()[0]) < 59.0
        await link.close()

    run(scenario)


def test_m108_breaks_a_heating_wait_at_once_with_the_emergency_parser() -> None:
    async def scenario() -> None:
        printer = VirtualPrinter(VirtualOptions(speed=1.0, reset_on_connect=False))
        link = printer.connect()
        link.write(b"M190 S100\n")  # would take over a minute
        await asyncio.sleep(0.1)
        link.write(b"M108\n")
        await read_until(link, "ok")
        assert printer.heaters["bed"][0] < 30
        await link.close()

    run(scenario)


def test_moves_fill_the_planner_and_m400_waits_for_them() -> None:
    async def scenario() -> None:
        printer = VirtualPrinter(VirtualOptions(speed=100.0, advanced_ok=True, reset_on_connect=False))
        link = printer.connect()
        for number in range(1, 4):
            link.write(numbered(number, "G1 X100 F6000"))  # 1 s each, 10 ms simulated at 100x
        replies = [line for line in await read_until(link, "ok N3") if line.startswith("ok")]
        assert [int(line.split("P")[1].split()[0]) for line in replies][-1] < 16
        link.write(numbered(4, "M400"))
        await read_until(link, "ok N4")
        link.write(numbered(5, "M114"))
        assert (await read_until(link, "ok"))[0] == "X:100.00 Y:0.00 Z:0.00 E:0.00"
        await link.close()

    run(scenario)


def test_receive_buffer_overflow_is_counted() -> None:
    async def scenario() -> None:
        printer = VirtualPrinter(VirtualOptions(speed=1.0, rx_buffer_size=128, reset_on_connect=False))
        link = printer.connect()
        link.write(b"G4 S5\n")
        await asyncio.sleep(0.05)
        link.write(
            b"".join(f"G1 X{i} Y{i} Z{i}\n".encode() for i in range(40))
        )  # far more than 4 + 128 bytes
        await asyncio.sleep(0.05)
        assert printer.rx_overflows == 1
        assert printer.max_rx_used == 128
        await link.close()

    run(scenario)


def test_m112_halts_the_firmware() -> None:
    async def scenario() -> None:
        printer = VirtualPrinter(VirtualOptions(speed=math.inf, reset_on_connect=False))
        link = printer.connect()
        link.write(b"M112\n")
        assert await read_until(link, "Error") == ["Error:Printer halted. kill() called!"]
        link.write(b"M105\n")
        await asyncio.sleep(0.05)
        assert "M105" not in printer.executed
        await link.close()

    run(scenario)


@pytest.mark.parametrize("baud", [0, 115200, 250000])
def test_emulated_baud_rate_delays_delivery(baud: int) -> None:
    async def scenario() -> None:
        printer = VirtualPrinter(VirtualOptions(speed=math.inf, baud=baud, reset_on_connect=False))
        link = printer.connect()
        link.write(b"M117 hello\n")
        # Unthrottled bytes arrive at once; emulated ones only after their transfer time (no clock read here).
        assert printer.max_rx_used == (11 if baud == 0 else 0)
        assert await read_until(link, "ok") == ["ok"]
        assert printer.executed == ["M117 hello"]
        await link.close()

    run(scenario)


def test_disconnect_and_unplugged_port() -> None:
    async def scenario() -> None:
        printer = VirtualPrinter(VirtualOptions(speed=math.inf))
        link = printer.connect()
        printer.disconnect(unplug_for=0.2)
        while await link.read():  # what arrived before the cable was pulled can still be read
            pass
        with pytest.raises(OSError):
            printer.connect()
        await asyncio.sleep(0.25)
        again = printer.connect()
        assert (await read_until(again, "start"))[-1].endswith("start")
        await again.close()

    run(scenario)
