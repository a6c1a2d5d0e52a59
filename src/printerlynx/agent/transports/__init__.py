"""Byte links to printers: ``open_transport(config)`` picks the serial port or the in-process simulator.

Both expose the same small ``Transport`` protocol: ``await read()`` returns received bytes (``b""`` once the
link is gone — a pulled cable, a vanished port), or ``set_receiver(callback)`` to get them as they arrive
(saving a task switch per line), ``write(data)`` never blocks (bytes are queued in order, and dropped once
the link is gone) and ``await close()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from printerlynx.agent.printer import PrinterConfig

__all__ = ["Transport", "open_transport"]


class Transport(Protocol):
    """An async byte stream to one printer."""

    async def read(self) -> bytes:
        """Received bytes; ``b""`` once the link is gone."""
        ...

    def write(self, data: bytes) -> None:
        """Queue bytes to send (never blocks)."""
        ...

    def set_receiver(self, receiver: Callable[[bytes], None]) -> None:
        """From now on hand received bytes to ``receiver`` as they arrive; ``read()`` then reports the end."""
        ...

    async def close(self) -> None:
        """Release the link."""
        ...


async def open_transport(config: PrinterConfig) -> Transport:
    """Open the link ``config`` names; raises ``OSError`` when the port is not there (yet)."""
    if config.adapter == "VIRTUAL":
        from printerlynx.agent.transports.virtual import open_virtual

        return open_virtual(config)
    if config.adapter == "SERIAL":
        from printerlynx.agent.transports.serial import open_serial

        return await open_serial(config.port, config.baud)
    raise ValueError(f"unknown printer adapter {config.adapter!r}")
