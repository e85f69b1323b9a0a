"""USB CDC serial (and pseudo-terminals): the dial's data port, read without blocking the event loop.

Two ways to read, the same push to the receiver (`--io`):
- selector: the loop watches the port's file descriptor (add_reader) and reads what is there;
  Linux's default, no thread;
- thread: a thread per port waits for input (device/transports/pump.py): in pyserial's blocking
  read on Windows, in select() (which, unlike kqueue, works with ttys) on POSIX; the default on
  Windows, whose event loops cannot watch a COM port, and macOS, whose kqueue does not work with ttys.
  `auto` also takes it on any loop that raises NotImplementedError for add_reader.
"""

from __future__ import annotations

import asyncio
import errno
import os
import select
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


def read_available(port: serial.Serial) -> bytes:
    """pyserial's portable blocking read (Windows): the first byte as soon as it is there (or b""
    after the port's timeout), then whatever followed it."""
    data: bytes = port.read(1)
    if data:
        waiting = port.in_waiting
        if waiting:
            data += port.read(waiting)
    return data


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
        self._abort: tuple[int, int] | None = None  # wakes the POSIX reader thread at close

    async def open(self, receiver: Receiver) -> None:
        if not await asyncio.to_thread(port_exists, self.location):
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
        if os.name == "posix":
            self._abort = os.pipe()
        self._reader = ReaderThread(f"serial-{self.location}", self._blocking_read, self._went_away)
        self._reader.start(receiver)

    def _blocking_read(self) -> bytes:
        """In the reader thread: what came within READ_TIMEOUT_S."""
        port = self._port
        if port is None:
            return b""
        if self._abort is None:
            return read_available(port)
        # POSIX (macOS, or forced on Linux): wait on the descriptor and take all there is, one
        # wake-up and two system calls; pyserial's read(1) + read(rest) cost twice the latency.
        abort = self._abort[0]
        ready, _, _ = select.select([port.fileno(), abort], [], [], READ_TIMEOUT_S)
        if abort in ready or not ready:
            return b""
        try:
            data = os.read(port.fileno(), 65536)
        except BlockingIOError:
            return b""  # pyserial opens the port non-blocking; readable can turn out empty
        if not data:
            raise OSError(errno.EIO, "end of file")
        return data

    def _interrupt_read(self) -> None:
        if self._abort is not None:
            os.write(self._abort[1], b"x")
        elif self._port is not None:
            self._port.cancel_read()

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
            await self._reader.stop(interrupt=self._interrupt_read)
            self._reader = None
            if self._abort is not None:
                for fd in self._abort:
                    os.close(fd)
                self._abort = None
        self._stop_reading()
        self._port, self._fd = None, -1
        port.close()
