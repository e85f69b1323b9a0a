"""USB HID: a dial in MICRODIAL_USB_MODE = "hid", read through hidapi.

The dial's vendor-defined HID device (usage page 0xFF00, usage 1; firmware/dialfw/hid.py) carries
the same wire stream as the serial port, in 64-byte reports of [count, count bytes, padding],
both ways. The dial streams only while it hears from the host, so this transport sends an
empty report (a keep-alive) every KEEPALIVE_S. hidapi calls block, so one reader thread per
dial does the reading and the keep-alives (pump.py), and hands bytes to the event loop: the same on
every OS, so HID needs no --io choice.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from microdial.device.transports.base import Receiver, Transport
from microdial.device.transports.pump import ReaderThread
from microdial.errors import TransportError, TransportUnavailable

USAGE_PAGE = 0xFF00
USAGE = 0x01
REPORT_LENGTH = 64
PAYLOAD = REPORT_LENGTH - 1
KEEPALIVE_S = 2.0
READ_TIMEOUT_MS = 100


def _hidapi() -> Any:
    try:
        import hid
    except ImportError as err:
        raise TransportUnavailable(f"USB HID needs the hidapi package: {err}") from None
    return hid


def find_hid_dials() -> list[bytes]:
    """hidapi paths of every connected dial in HID mode."""
    return sorted(
        info["path"]
        for info in _hidapi().enumerate()
        if info.get("usage_page") == USAGE_PAGE and info.get("usage") == USAGE
    )


def pack_reports(data: bytes) -> list[bytes]:
    """data as hidapi output reports: a leading report id 0 (none), then [count, payload, padding]."""
    reports = []
    for start in range(0, len(data), PAYLOAD):
        chunk = data[start : start + PAYLOAD]
        reports.append(bytes([0, len(chunk)]) + chunk + bytes(PAYLOAD - len(chunk)))
    return reports


KEEPALIVE = bytes([0, 0]) + bytes(PAYLOAD)


class HidTransport(Transport):
    def __init__(
        self, path: bytes, device_factory: Callable[[], Any] | None = None, keepalive_s: float = KEEPALIVE_S
    ) -> None:
        self.path = path
        self.keepalive_s = keepalive_s
        self.location = path.decode(errors="replace")
        self._factory = device_factory
        self._device: Any = None
        self._lock = threading.Lock()
        self._reader: ReaderThread | None = None
        self._next_keepalive = 0.0

    async def open(self, receiver: Receiver) -> None:
        factory = self._factory or _hidapi().device
        device = factory()
        try:
            device.open_path(self.path)
        except (OSError, ValueError) as err:
            raise TransportError(
                f"cannot open HID dial {self.location}: {err} (is it plugged in, and readable by you? see hardware/99-microdial.rules)"
            ) from None
        self._device = device
        self._send(KEEPALIVE)
        self._next_keepalive = time.monotonic() + self.keepalive_s
        self._reader = ReaderThread(f"hid-{self.location}", self._read_report, self._went_away)
        self._reader.start(receiver)

    def _send(self, report: bytes) -> None:
        with self._lock:
            written = self._device.write(report)
        if written < 0:
            raise OSError(f"write returned {written}")

    def _went_away(self, err: Exception) -> TransportError:
        return TransportError(f"HID dial {self.location} went away: {err}")

    def _read_report(self) -> bytes:
        """In the reader thread: a keep-alive when one is due, then one report's payload (b"" if none came)."""
        if time.monotonic() >= self._next_keepalive:
            self._send(KEEPALIVE)
            self._next_keepalive = time.monotonic() + self.keepalive_s
        report = self._device.read(REPORT_LENGTH, READ_TIMEOUT_MS)
        if not report:
            return b""
        count = report[0]
        if count > PAYLOAD:
            # Not our report layout: the decoder counts what does not parse, so pass nothing on.
            return b""
        return bytes(report[1 : 1 + count])

    async def write(self, data: bytes) -> None:
        if self._device is None:
            raise TransportError(f"{self.location} is not open")
        try:
            for report in pack_reports(data):
                await asyncio.to_thread(self._send, report)
        except (OSError, ValueError) as err:
            raise TransportError(f"cannot write to HID dial {self.location}: {err}") from None

    async def close(self) -> None:
        if self._device is None:
            return
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None
        device, self._device = self._device, None
        device.close()
