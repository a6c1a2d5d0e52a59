"""The ``virtual`` adapter: a link to an in-process ``VirtualPrinter`` (no pseudo-terminal needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from printerlynx.agent.printer import PrinterConfig
    from printerlynx.agent.virtual import VirtualPrinter


def open_virtual(config: PrinterConfig) -> VirtualLink:
    """Connect to the config's simulator, creating it (from ``config.virtual``) on first use.

    The simulator is kept on the config so that it outlives a connection, like a real printer outlives
    its USB cable: a reconnect after a disconnect finds the same machine.
    """
    from printerlynx.agent.virtual import VirtualOptions, VirtualPrinter

    if config.virtual_printer is None:
        config.virtual_printer = VirtualPrinter(VirtualOptions.from_mapping(dict(config.virtual)))
    printer = config.virtual_printer
    if not isinstance(printer, VirtualPrinter):
        raise TypeError("virtual_printer must be a VirtualPrinter")
    return printer.connect()


class VirtualLink:
    """The host's end of a connection to a ``VirtualPrinter``: a transport (read/write/close)."""

    def __init__(self, printer: VirtualPrinter) -> None:
        self._printer = printer
        self._loop = asyncio.get_running_loop()
        self._incoming = bytearray()
        self._ready = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self._receiver: Callable[[bytes], None] | None = None
        self.closed = False
        self._in_free_at = 0.0
        self._out_free_at = 0.0

    def write(self, data: bytes) -> None:
        """Bytes from the host; they reach the firmware after the emulated transfer time."""
        if self.closed or not data:
            return
        baud = self._printer.options.baud
        if baud <= 0:
            self._printer.arrive(self, data)
            return
        self._in_free_at = max(self._loop.time(), self._in_free_at) + len(data) * 10 / baud
        self._loop.call_at(self._in_free_at, self._printer.arrive, self, data)

    def emit(self, data: bytes) -> None:
        """Bytes from the firmware; the host reads them after the emulated transfer time."""
        if self.closed:
            return
        baud = self._printer.options.baud
        if baud <= 0:
            self._deliver(data)
            return
        self._out_free_at = max(self._loop.time(), self._out_free_at) + len(data) * 10 / baud
        self._loop.call_at(self._out_free_at, self._deliver, data)

    def _deliver(self, data: bytes) -> None:
        if self.closed:
            return
        if self._receiver is not None:
            self._receiver(data)
            return
        self._incoming += data
        self._ready.set()

    def set_receiver(self, receiver: Callable[[bytes], None]) -> None:
        """Hand the printer's bytes to ``receiver`` from now on (what was buffered first)."""
        self._receiver = receiver
        if self._incoming:
            data = bytes(self._incoming)
            self._incoming.clear()
            receiver(data)

    async def read(self) -> bytes:
        """What the printer sent; ``b""`` once the link is closed."""
        while not self._incoming and not self.closed:
            self._ready.clear()
            await self._ready.wait()
        data = bytes(self._incoming)
        self._incoming.clear()
        return data

    def lose(self) -> None:
        """The cable is pulled: the host reads EOF."""
        self.closed = True
        self._ready.set()

    async def close(self) -> None:
        """The host hangs up."""
        self.lose()
        self._printer.hang_up(self)
