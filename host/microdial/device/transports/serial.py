"""USB CDC serial (and pseudo-terminals): the dial's data port, read without blocking the event loop.

Two ways to read, the same push to the receiver (`--io`):
- selector: the loop watches the port's file descriptor (add_reader) and reads what is there;
  Linux's default, no thread;
- thread: a thread waits in pyserial's blocking read (device/transports/pump.py); the default on
  Windows, whose Proactor loop has no add_reader, and macOS, whose kqueue does not work with ttys.
  `auto` also takes it on any loop that raises NotImplementedError for add_reader.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sys
from pathlib import Path
from typing import Literal

import serial
import serial.tools.list_ports

from microdial.device.transports.base import Receiver, Transport
from microdial.device.transports.pump import ReaderThread
from microdial.device.transports.serial_ports import data_ports
from microdial.errors import TransportError

IoMode = Literal["auto", "thread", "selector"]

#: How long the reader thread's blocking read waits before looking whether it should stop; close()
#: interrupts it sooner (cancel_read), so this only bounds a missed interrupt.
READ_TIMEOUT_S = 0.5


def platform_io() -> Literal["thread", "selector"]:
    """What `--io auto` reads with on this operating system."""
    return "thread" if sys.platform in ("win32", "darwin") else "selector"


def port_exists(path: str) -> bool:
    """Whether a serial port is there now: a device file on POSIX, a listed port (COMn) on Windows."""
    if os.name == "nt":
        return any(port.device == path for port in serial.tools.list_ports.comports())
    return Path(path).exists()


def find_data_ports() -> list[str]:
    """Device paths of every connected CircuitPython data port."""
    return sorted(data_ports().values())


class SerialTransport(Transport):
    def __init__(self, path: str, io: IoMode = "auto") -> None:
        self.location = path
        self.io = io
        self._port: serial.Serial | None = None
        self._fd = -1
        self._watching = False
        self._reader: ReaderThread | None = None

    async def open(self, receiver: Receiver) -> None:
        if not port_exists(self.location):
            raise TransportError(f"no serial port {self.location}: is the dial plugged in?")
        try:
            port = serial.Serial()
            port.port = self.location
            port.timeout = 0
            port.write_timeout = 0
            port.exclusive = True
            port.open()
        except serial.SerialException as err:
            hint = ""
            if isinstance(err.__context__, PermissionError) or "ermission" in str(err):
                hint = " (add yourself to the 'dialout' group and log in again)"
            raise TransportError(f"cannot open {self.location}: {err}{hint}") from None
        self._port = port
        mode = platform_io() if self.io == "auto" else self.io
        if mode == "selector":
            fd = port.fileno()
            try:
                asyncio.get_running_loop().add_reader(fd, self._on_readable, receiver)
            except NotImplementedError:
                if self.io == "selector":
                    await self.close()
                    raise TransportError(
                        "--io selector needs an event loop that watches file descriptors; this one does not (use --io thread)"
                    ) from None
            else:
                self._fd, self._watching = fd, True
                return
        port.timeout = READ_TIMEOUT_S
        self._reader = ReaderThread(f"serial-{self.location}", self._blocking_read, self._went_away)
        self._reader.start(receiver)

    def _blocking_read(self) -> bytes:
        """What came within READ_TIMEOUT_S: the first byte as soon as it is there, then whatever followed it."""
        port = self._port
        if port is None:
            return b""
        data: bytes = port.read(1)
        if data:
            waiting = port.in_waiting
            if waiting:
                data += port.read(waiting)
        return data

    def _went_away(self, err: Exception) -> TransportError:
        return TransportError(f"{self.location} went away: {err}")

    def _on_readable(self, receiver: Receiver) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError as err:
            # EIO is what a pty or a USB CDC port gives once the other end is gone.
            self._stop_reading()
            receiver.connection_lost(
                TransportError(f"{self.location} went away: {os.strerror(err.errno or 0)}")
            )
            return
        if not data:
            self._stop_reading()
            receiver.connection_lost(TransportError(f"{self.location} went away"))
            return
        receiver.data_received(data)

    def _stop_reading(self) -> None:
        if self._watching:
            self._watching = False
            asyncio.get_running_loop().remove_reader(self._fd)

    async def write(self, data: bytes) -> None:
        if self._port is None:
            raise TransportError(f"{self.location} is not open")
        if self._reader is not None:
            self._write_portable(self._port, data)
            return
        try:
            written = os.write(self._fd, data)
        except BlockingIOError:
            written = 0
        except OSError as err:
            if err.errno in (errno.EIO, errno.ENXIO, errno.ENODEV):
                raise TransportError(f"{self.location} went away") from None
            raise TransportError(f"cannot write to {self.location}: {err}") from None
        if written != len(data):
            # Host→device traffic is a few short commands; a full buffer means the device is not reading.
            raise TransportError(f"{self.location} is not accepting commands (output buffer full)")

    def _write_portable(self, port: serial.Serial, data: bytes) -> None:
        """Through pyserial (write_timeout 0: what fits, never waiting), where there is no descriptor to write."""
        try:
            written = port.write(data) or 0
        except serial.SerialTimeoutException:
            written = 0
        except serial.SerialException as err:
            raise TransportError(f"cannot write to {self.location} (went away?): {err}") from None
        if written != len(data):
            raise TransportError(f"{self.location} is not accepting commands (output buffer full)")

    async def close(self) -> None:
        if self._port is None:
            return
        port = self._port
        if self._reader is not None:
            # The thread must have left port.read() before the port is closed under it.
            await self._reader.stop(interrupt=port.cancel_read)
            self._reader = None
        self._stop_reading()
        self._port, self._fd = None, -1
        port.close()
