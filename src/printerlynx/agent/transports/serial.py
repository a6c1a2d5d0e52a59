"""The ``serial`` adapter: pyserial opens and configures the port; the event loop does the I/O.

As in Moonraker, the port's file descriptor is made non-blocking and watched with the loop's
``add_reader``/``add_writer``, so no thread sits in a blocking read and a pulled cable is noticed at once
(the read fails or returns nothing: EOF).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable

import serial

logger = logging.getLogger("printerlynx.agent.serial")

READ_SIZE = 65536


class SerialTransport:
    """A non-blocking serial port as an async byte stream."""

    def __init__(self, port: serial.Serial) -> None:
        self._port = port
        self._fd = port.fileno()
        os.set_blocking(self._fd, False)
        self._loop = asyncio.get_running_loop()
        self._incoming = bytearray()
        self._outgoing = bytearray()
        self._ready = asyncio.Event()
        self._writing = False
        self._receiver: Callable[[bytes], None] | None = None
        self.lost: str | None = None
        self._loop.add_reader(self._fd, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lose(f"read failed: {exc}")
            return
        if not data:
            self._lose("the port closed")
            return
        if self._receiver is not None:
            self._receiver(data)
            return
        self._incoming += data
        self._ready.set()

    def set_receiver(self, receiver: Callable[[bytes], None]) -> None:
        """Hand received bytes to ``receiver`` from now on (what was buffered first)."""
        self._receiver = receiver
        if self._incoming:
            data = bytes(self._incoming)
            self._incoming.clear()
            receiver(data)

    async def read(self) -> bytes:
        """Received bytes; ``b""`` once the port is gone."""
        while not self._incoming and self.lost is None:
            self._ready.clear()
            await self._ready.wait()
        data = bytes(self._incoming)
        self._incoming.clear()
        return data

    def write(self, data: bytes) -> None:
        """Write now what the port takes; the rest when it is writable again."""
        if self.lost is not None or not data:
            return
        self._outgoing += data
        if not self._writing:
            self._flush()

    def _flush(self) -> None:
        try:
            written = os.write(self._fd, self._outgoing)
        except (BlockingIOError, InterruptedError):
            written = 0
        except OSError as exc:
            self._lose(f"write failed: {exc}")
            return
        del self._outgoing[:written]
        if self._outgoing and not self._writing:
            self._writing = True
            self._loop.add_writer(self._fd, self._flush)
        elif not self._outgoing and self._writing:
            self._writing = False
            self._loop.remove_writer(self._fd)

    def _lose(self, reason: str) -> None:
        if self.lost is None:
            self.lost = reason
            logger.info("serial port %s: %s", self._port.port, reason)
        self._stop_watching()
        self._ready.set()

    def _stop_watching(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._fd)
        if self._writing:
            self._writing = False
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_writer(self._fd)

    async def close(self) -> None:
        """Stop watching the port and close it."""
        if self.lost is None:
            self.lost = "closed"
        self._stop_watching()
        self._ready.set()
        with contextlib.suppress(OSError, serial.SerialException):
            self._port.close()


async def open_serial(port: str, baud: int) -> SerialTransport:
    """Open ``port`` (a device path or pyserial URL with a file descriptor) at ``baud``."""

    def _open() -> serial.Serial:
        return serial.serial_for_url(port, baudrate=baud, timeout=0, write_timeout=0, exclusive=True)

    try:
        handle = await asyncio.to_thread(_open)
    except serial.SerialException as exc:
        raise OSError(str(exc)) from exc
    try:
        return SerialTransport(handle)
    except (OSError, AttributeError, serial.SerialException) as exc:
        handle.close()
        raise OSError(f"{port}: not usable as a local serial port ({exc})") from exc
