"""USB CDC serial (and pseudo-terminals): the dial's data port, read without blocking the event loop."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import serial
import serial.tools.list_ports

from microdial.device.transports.base import Receiver, Transport
from microdial.errors import TransportError

# CircuitPython names its second CDC interface so; the console's is "CircuitPython CDC control".
DATA_INTERFACE = "CircuitPython CDC2"


def data_ports() -> dict[str, str]:
    """Every connected CircuitPython data port: its USB serial number (else its path) → its device path.

    ttyACM numbers follow plug order, not the dial; the serial number follows the dial.
    """
    return {
        port.serial_number or port.device: port.device
        for port in serial.tools.list_ports.comports()
        if DATA_INTERFACE in (port.interface or "")
    }


def find_data_ports() -> list[str]:
    """Device paths of every connected CircuitPython data port."""
    return sorted(data_ports().values())


class SerialTransport(Transport):
    def __init__(self, path: str) -> None:
        self.location = path
        self._port: serial.Serial | None = None
        self._fd = -1

    async def open(self, receiver: Receiver) -> None:
        if not await asyncio.to_thread(Path(self.location).exists):
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
        self._fd = port.fileno()
        asyncio.get_running_loop().add_reader(self._fd, self._on_readable, receiver)

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
        if self._fd >= 0:
            asyncio.get_running_loop().remove_reader(self._fd)

    async def write(self, data: bytes) -> None:
        if self._port is None:
            raise TransportError(f"{self.location} is not open")
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

    async def close(self) -> None:
        if self._port is None:
            return
        self._stop_reading()
        port, self._port, self._fd = self._port, None, -1
        port.close()
