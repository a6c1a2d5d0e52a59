"""The Printer against the simulator: handshake, jobs, pause/resume/cancel, every injected fault, serial."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from printerlynx.agent.printer import Printer, PrinterConfig, PrinterError
from printerlynx.agent.pty import serve_virtual_printer
from printerlynx.agent.virtual import VirtualOptions, VirtualPrinter

UUID = "7d4ce00f-d60a-4504-96ab-31a83f848722"


def run(coroutine: Awaitable[None]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coroutine, 60)

    asyncio.run(bounded())


def job_file(
    tmp_path: Path, count: int, *, distance: float = 1.0, feedrate: int = 6000
) -> tuple[Path, list[str]]:
    commands = [f"G1 X{(i % 2) * distance:.1f} Y{i % 7} F{feedrate}" for i in range(count)]
    body = "; a slicer comment\n\nG90\n" + "".join(
        f"{command} ; segment {i}\n" for i, command in enumerate(commands)
    )
    path = tmp_path / "job.gcode"
    path.write_text(body)
    return path, ["G90", *commands]


class Rig:
    """A Printer on a VirtualPrinter, with what it reported."""

    def __init__(self, options: VirtualOptions, **config: Any) -> None:
        self.sim = VirtualPrinter(options)
        defaults: dict[str, Any] = {"reconnect_interval": 0.1, "handshake_timeout": 1.0}
        self.config = PrinterConfig(name="Demo", uuid=UUID, virtual_printer=self.sim, **(defaults | config))
        self.changes = 0
        self.responses: list[tuple[str, list[str]]] = []
        self.printer = Printer(
            self.config, self._changed, lambda command, lines: self.responses.append((command, lines))
        )

    def _changed(self) -> None:
        self.changes += 1

    def status(self) -> dict[str, Any]:
        return self.printer.status()

    def job(self) -> dict[str, Any]:
        job = self.status()["job"]
        assert job is not None
        return job  # type: ignore[no-any-return]

    async def until(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)

    async def start(self, path: Path, job_uuid: str = "job-1") -> None:
        size = path.stat().st_size if path.exists() else 1
        await self.printer.start_job(job_uuid, path, name=path.name, size=size, print_file_uuid=UUID)

    def executed_moves(self) -> list[str]:
        return [command for command in self.sim.executed if command.startswith(("G1 ", "G90"))]


@contextlib.asynccontextmanager
async def rig(options: VirtualOptions | None = None, **config: Any) -> AsyncIterator[Rig]:
    setup = Rig(options or VirtualOptions(speed=math.inf), **config)
    task = asyncio.create_task(setup.printer.run())
    try:
        await setup.until(lambda: setup.status()["status"] == "available")
        yield setup
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# ------------------------------------------------------------------- connection and status


def test_handshake_status_and_autoreported_temperatures() -> None:
    async def scenario() -> None:
        async with rig(VirtualOptions(speed=math.inf, extruders=2)) as setup:
            await setup.until(lambda: "tool1" in setup.status()["state"]["temperature"])
            status = setup.status()
            assert status["printer_uuid"] == UUID
            assert status["printer_identifier"] == "Demo"
            assert status["printer_adapter_identifier"] == "VIRTUAL"
            assert status["printer_adapter_interface"] == "virtual"
            assert status["job"] is None
            assert set(status["state"]["temperature"]) == {"tool0", "tool1", "bed"}
            assert "M155 S2" in setup.sim.executed
            assert setup.changes >= 1

    run(scenario())


def test_without_autoreport_temperatures_are_polled_and_targets_shown() -> None:
    async def scenario() -> None:
        options = VirtualOptions(speed=50.0, autoreport_temp=False)
        async with rig(options, temperature_interval=0.2, temperature_interval_heating=0.1) as setup:
            assert await setup.printer.command("M104 S200") == ["ok"]
            await setup.until(lambda: setup.status()["state"]["temperature"].get("tool0", 0) > 30)
            assert setup.status()["state"]["target_temperature"]["tool0"] == 200.0
            assert "M155 S2" not in setup.sim.executed
            assert setup.sim.executed.count("M105") >= 2

    run(scenario())


def test_command_replies_and_refusals() -> None:
    async def scenario() -> None:
        async with rig() as setup:
            reply = await setup.printer.command("M114")
            assert reply[0].startswith("X:0.00 Y:0.00 Z:0.00")
            assert reply[-1] == "ok"
            assert setup.responses == [("M114", reply)]
            unknown = await setup.printer.command("FOO")
            assert unknown[0] == 'echo:Unknown command: "FOO"'
            with pytest.raises(PrinterError):
                await setup.printer.command("G28\nG1 X1")
            with pytest.raises(PrinterError, match="no print to pause"):
                await setup.printer.pause("nope")
        with pytest.raises(PrinterError, match="unavailable"):
            await setup.printer.command("M105")

    run(scenario())


# ------------------------------------------------------------------- jobs


def test_job_completes_with_every_line_once_in_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        path, expected = job_file(tmp_path, 1500)
        async with rig() as setup:
            await setup.start(path)
            assert setup.status()["status"] == "busy"
            await setup.until(lambda: setup.job()["state"] == "completed")
            job = setup.job()
            assert job["progress"] == 1.0
            assert (
                job["job_uuid"] == "job-1" and job["name"] == "job.gcode" and job["print_file_uuid"] == UUID
            )
            assert job["started_at"].endswith("Z") and job["ended_at"].endswith("Z")
            assert setup.status()["status"] == "available"  # the finished job stays in the status
            assert setup.executed_moves() == expected
            assert setup.sim.executed[-1] == "M400"
            await setup.start(path, "job-2")
            with pytest.raises(PrinterError, match="busy"):
                await setup.start(path, "job-3")
            await setup.until(lambda: setup.job()["state"] == "completed")

    run(scenario())


def test_start_refuses_a_missing_file(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig() as setup:
            with pytest.raises(PrinterError, match="cannot read"):
                await setup.start(tmp_path / "missing.gcode")
            assert setup.status()["status"] == "available"

    run(scenario())


def test_pause_resume_cancel(tmp_path: Path) -> None:
    async def scenario() -> None:
        # 10 mm moves at 600 mm/min take 1 s each, simulated 20x faster: the job lasts ~10 s.
        path, _ = job_file(tmp_path, 200, distance=10.0, feedrate=600)
        progress: list[float] = []
        async with rig(VirtualOptions(speed=20.0)) as setup:
            await setup.start(path)
            await setup.until(lambda: setup.job()["progress"] > 0.05)
            await setup.printer.pause("job-1")
            assert setup.job()["state"] == "paused" and setup.status()["status"] == "busy"
            await setup.until(lambda: setup.sim.executed[-1] == "G90" and "M114" in setup.sim.executed)
            executed = setup.sim.executed
            park = executed.index("M400", 1)
            assert executed[park : park + 5] == ["M400", "M114", "G91", "G1 Z5 E-2 F600", "G90"]
            progress.append(setup.job()["progress"])
            await asyncio.sleep(0.3)
            assert len(setup.sim.executed) == len(executed)  # nothing streamed while paused
            await setup.printer.resume("job-1")
            assert setup.job()["state"] == "printing"
            await setup.until(lambda: setup.job()["progress"] > progress[0] + 0.01)
            restore = setup.sim.executed.index("G1 Z-5 E2 F600")
            assert setup.sim.executed[restore - 1 : restore + 2] == ["G91", "G1 Z-5 E2 F600", "G90"]
            await setup.printer.cancel("job-1")
            job = setup.job()
            assert job["state"] == "cancelled" and job["ended_at"] is not None
            assert setup.status()["status"] == "available"
            await setup.until(lambda: setup.sim.executed[-4:] == ["M104 S0", "M140 S0", "M107", "M84"])
            with pytest.raises(PrinterError):
                await setup.printer.resume("job-1")

    run(scenario())


def test_cancel_breaks_a_heat_up_wait_with_m108(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "hot.gcode"
        path.write_text("M109 S250\nG1 X10\n")
        async with rig(VirtualOptions(speed=1.0)) as setup:  # heating to 250 °C would take over a minute
            await setup.start(path)
            await setup.until(lambda: "M109 S250" in setup.sim.executed)
            await setup.printer.cancel("job-1")
            await setup.until(lambda: setup.sim.executed[-4:] == ["M104 S0", "M140 S0", "M107", "M84"], 10)
            assert "G1 X10" not in setup.sim.executed

    run(scenario())


# ------------------------------------------------------------------- faults


@pytest.mark.parametrize("advanced_ok", [False, True], ids=["one-in-flight", "advanced-ok"])
@pytest.mark.parametrize("ok_after_resend", [True, False], ids=["ok-after-resend", "no-ok-after-resend"])
def test_checksum_and_line_number_errors_are_resent_and_every_line_runs_once(
    tmp_path: Path, advanced_ok: bool, ok_after_resend: bool
) -> None:
    async def scenario() -> None:
        path, expected = job_file(tmp_path, 400)
        options = VirtualOptions(
            speed=math.inf,
            advanced_ok=advanced_ok,
            ok_after_resend=ok_after_resend,
            checksum_errors={10, 11, 150, 300},
            drop_lines={50, 220},
        )
        async with rig(options, communication_timeout=0.5, resend_ok_timeout=0.1) as setup:
            await setup.start(path)
            await setup.until(lambda: setup.job()["state"] == "completed")
            assert setup.executed_moves() == expected
            assert setup.sim.resends_requested >= 6
            assert setup.sim.rx_overflows == 0

    run(scenario())


def test_lost_ok_is_recovered_by_polling(tmp_path: Path) -> None:
    async def scenario() -> None:
        path, expected = job_file(tmp_path, 100)
        options = VirtualOptions(speed=math.inf, drop_oks={20, 60})
        async with rig(options, communication_timeout=0.3) as setup:
            await setup.start(path)
            await setup.until(lambda: setup.job()["state"] == "completed")
            assert setup.executed_moves() == expected
            assert setup.sim.executed.count("M105") >= 2  # one poll per lost ok

    run(scenario())


def test_busy_keepalives_keep_a_long_command_from_timing_out(tmp_path: Path) -> None:
    async def scenario() -> None:
        path, expected = job_file(tmp_path, 50)
        # 2 s busy on line 20: without the keepalives (every 0.1 s) the 1 s timeouts would fire and poll.
        options = VirtualOptions(speed=math.inf, busy_lines={20: 2.0}, keepalive_interval=0.1)
        async with rig(options, communication_timeout=1.0, busy_timeout=1.0) as setup:
            await setup.start(path)
            await setup.until(lambda: setup.job()["state"] == "completed")
            assert setup.executed_moves() == expected
            assert "M105" not in setup.sim.executed

    run(scenario())


def test_firmware_reset_mid_job_fails_the_job_and_the_printer_comes_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        path, _ = job_file(tmp_path, 300)
        async with rig(VirtualOptions(speed=math.inf, reset_at_line=100)) as setup:
            await setup.start(path)
            await setup.until(lambda: setup.job()["state"] == "failed")
            assert "restarted" in setup.job()["message"]
            await setup.until(lambda: setup.status()["status"] == "available")
            assert await setup.printer.command("M114")

    run(scenario())


def test_disconnect_makes_the_printer_unavailable_then_it_reconnects(tmp_path: Path) -> None:
    async def scenario() -> None:
        path, _ = job_file(tmp_path, 300)
        seen: list[str] = []
        async with rig(VirtualOptions(speed=math.inf), reconnect_interval=0.2) as setup:
            setup.sim.options.disconnect_at_line = 100
            setup.sim.options.reset_on_connect = True
            await setup.start(path)
            await setup.until(lambda: setup.status()["status"] == "unavailable")
            seen.append(setup.status()["status"])
            job = setup.job()
            assert job["state"] == "failed" and "disconnected" in job["message"]
            with pytest.raises(PrinterError, match="unavailable"):
                await setup.start(path, "job-2")
            await setup.until(lambda: setup.status()["status"] == "available")
            assert setup.job()["state"] == "failed"
            await setup.start(path, "job-2")
            await setup.until(lambda: setup.job()["state"] == "completed")

    run(scenario())


def test_m112_kills_the_firmware_fails_the_job_and_reconnects(tmp_path: Path) -> None:
    async def scenario() -> None:
        path, _ = job_file(tmp_path, 200, distance=10.0, feedrate=600)
        async with rig(VirtualOptions(speed=20.0)) as setup:
            setup.sim.options.reset_on_connect = True
            await setup.start(path)
            await setup.until(lambda: setup.job()["progress"] > 0)
            assert await setup.printer.command("M112") == []
            await setup.until(lambda: setup.job()["state"] == "failed")
            assert "kill() called" in setup.job()["message"]
            await setup.until(lambda: setup.status()["status"] == "available")

    run(scenario())


def test_a_firmware_that_stops_answering_fails_the_job_never_a_silent_hang(tmp_path: Path) -> None:
    async def scenario() -> None:
        path, _ = job_file(tmp_path, 200)
        async with rig(VirtualOptions(speed=math.inf, hang_at_line=60), communication_timeout=0.1) as setup:
            setup.sim.options.reset_on_connect = True  # reconnecting resets the board, as DTR does
            await setup.start(path)
            await setup.until(lambda: setup.job()["state"] == "failed")
            assert "did not answer" in setup.job()["message"]
            await setup.until(lambda: setup.status()["status"] == "available")

    run(scenario())


# ------------------------------------------------------------------- through a real serial port


def test_job_over_a_pseudo_terminal_with_pyserial(tmp_path: Path) -> None:
    async def scenario() -> None:
        path, expected = job_file(tmp_path, 300)
        options = VirtualOptions(
            speed=math.inf, advanced_ok=True, checksum_errors={40}, reset_on_connect=False
        )
        simulator = VirtualPrinter(options)
        ports: list[str] = []
        server = asyncio.create_task(serve_virtual_printer(announce=ports.append, printer=simulator))
        try:
            async with asyncio.timeout(5):
                while not ports:
                    await asyncio.sleep(0.01)
            setup = Rig(options, adapter="SERIAL", port=ports[0], baud=250000, handshake_timeout=1.0)
            task = asyncio.create_task(setup.printer.run())
            try:
                await setup.until(lambda: setup.status()["status"] == "available")
                assert setup.status()["printer_adapter_interface"] == ports[0]
                await setup.start(path)
                await setup.until(lambda: setup.job()["state"] == "completed")
                assert setup.job()["progress"] == 1.0
                moves = [command for command in simulator.executed if command.startswith(("G1 ", "G90"))]
                assert moves == expected
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server

    run(scenario())


def test_status_heartbeat_while_a_job_is_paused(tmp_path: Path) -> None:
    async def scenario() -> None:
        path, _ = job_file(tmp_path, 200, distance=10.0, feedrate=600)
        async with rig(VirtualOptions(speed=20.0), status_interval=0.2) as setup:
            await setup.start(path)
            await setup.printer.pause("job-1")
            await setup.until(lambda: "M114" in setup.sim.executed)
            before = setup.changes
            # Nothing changes while paused, yet the app hears from the printer every status_interval.
            await setup.until(lambda: setup.changes >= before + 3)
            await setup.printer.cancel("job-1")

    run(scenario())
