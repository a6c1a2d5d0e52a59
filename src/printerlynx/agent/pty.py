"""The simulator on a pseudo-terminal: a "serial port" any host (the agent, OctoPrint, a terminal) can open.

``printerlynx virtual-printer`` runs ``serve_virtual_printer``; benchmarks run ``main([...])`` in a
subprocess, with an emulated baud rate, so that the streaming side is measured in a process of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import selectors
import sys
import tty
from collections.abc import Callable
from pathlib import Path

from printerlynx.agent.virtual import VirtualLink, VirtualOptions, VirtualPrinter

MAX_PENDING_OUTPUT = 1 << 20  # bytes kept for a host that does not read; beyond, output is dropped


class PtyBridge:
    """Copies bytes between a pseudo-terminal's master side and a simulator link."""

    def __init__(self, printer: VirtualPrinter) -> None:
        self.printer = printer
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no newline translation: bytes pass as they are
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self._slave)
        self._pending = bytearray()
        self._writing = False
        self._link: VirtualLink | None = None

    async def serve(self) -> None:
        """Run until cancelled (or until the simulator's link is dropped)."""
        loop = asyncio.get_running_loop()
        link = self._link = self.printer.connect()
        loop.add_reader(self.master, self._on_readable)
        try:
            while True:
                data = await link.read()
                if not data:
                    return
                self._write(data)
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(self.master)
            if self._writing:
                loop.remove_writer(self.master)
            await link.close()

    def _on_readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO: no host has the port open right now
            return
        if data and self._link is not None:
            self._link.write(data)

    def _write(self, data: bytes) -> None:
        if len(self._pending) + len(data) > MAX_PENDING_OUTPUT:
            return  # nobody reads: drop, as a real board's UART would
        self._pending += data
        if not self._writing:
            self._flush()

    def _flush(self) -> None:
        try:
            written = os.write(self.master, self._pending)
        except (BlockingIOError, InterruptedError):
            written = 0
        except OSError:
            written = len(self._pending)
        del self._pending[:written]
        loop = asyncio.get_running_loop()
        if self._pending and not self._writing:
            self._writing = True
            loop.add_writer(self.master, self._flush)
        elif not self._pending and self._writing:
            self._writing = False
            loop.remove_writer(self.master)

    def close(self) -> None:
        """Close both ends (a host with the port open then reads EOF/EIO)."""
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


async def serve_virtual_printer(
    link: Path | None = None,
    options: VirtualOptions | None = None,
    *,
    announce: Callable[[str], None] | None = None,
    printer: VirtualPrinter | None = None,
) -> None:
    """Run a simulated printer on a new pseudo-terminal, print its path (and make ``link`` point to it)."""
    bridge = PtyBridge(printer or VirtualPrinter(options or VirtualOptions(reset_on_connect=False)))
    try:
        if link is not None:
            _point(link, bridge.path)
        (announce or _print)(bridge.path)
        await bridge.serve()
    finally:
        if link is not None:
            _point(link, None)
        bridge.close()


def _point(link: Path, target: str | None) -> None:
    """Make ``link`` a symlink to ``target`` (or remove it)."""
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    if target is not None:
        link.symlink_to(target)


def _print(path: str) -> None:
    print(f"virtual printer on {path} (use it as NAME=serial:{path})", flush=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m printerlynx.agent.pty [--baud N] [--latency S] [--advanced-ok] …``: serve until killed."""
    parser = argparse.ArgumentParser(description="a simulated Marlin printer on a pseudo-terminal")
    parser.add_argument("--link", type=Path)
    parser.add_argument("--baud", type=int, default=0, help="emulated link speed (0: unthrottled)")
    parser.add_argument("--latency", type=float, default=0.0, help="firmware time per command (s)")
    parser.add_argument("--speed", type=float, default=math.inf, help="simulated time factor (inf: instant)")
    parser.add_argument("--advanced-ok", action="store_true")
    parser.add_argument("--no-autoreport", action="store_true")
    args = parser.parse_args(argv)
    options = VirtualOptions(
        baud=args.baud,
        line_latency=args.latency,
        speed=args.speed,
        advanced_ok=args.advanced_ok,
        autoreport_temp=not args.no_autoreport,
        reset_on_connect=False,
    )

    def announce(path: str) -> None:
        print(f"PTY {path}", flush=True)

    # select() waits with microsecond resolution (epoll rounds up to milliseconds): the emulated link's
    # byte timing stays close to a real UART's.
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(selectors.SelectSelector())) as runner,
    ):
        runner.run(serve_virtual_printer(args.link, options, announce=announce))
    return 0


if __name__ == "__main__":
    sys.exit(main())
