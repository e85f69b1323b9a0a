"""An in-process link between a simulated dial's firmware and the host: no pty, no USB.

The simulator runs the real firmware with a fake usb_cdc.Serial; on Linux and macOS that fake is
a pty the host opens like a USB port. Windows has no ptys, so there the demo wires the firmware's
port straight to the device session: LoopbackPort is what the firmware writes to and reads from
(in its own thread), LoopbackTransport is what the session opens. Bytes reach the session with
call_soon_threadsafe, as from the serial reader thread, so the push interface is the same.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from microdial.device.transports.base import Receiver, Transport
from microdial.errors import TransportError

WriteHook = Callable[[bytes, int], None]


class LoopbackPort:
    """The firmware's side: usb_cdc.Serial's interface (timeout 0: reads and writes never wait)."""

    def __init__(self, name: str) -> None:
        self.location = f"loopback:{name}"
        self.timeout: float | None = 1.0
        self.write_timeout: float | None = None
        self.on_write: WriteHook | None = None
        self._lock = threading.Lock()
        self._inbox = bytearray()
        self._deliver: Callable[[bytes], None] | None = None

    # -- the host's side, called by LoopbackTransport

    def attach(self, deliver: Callable[[bytes], None]) -> None:
        with self._lock:
            self._deliver = deliver
            self._inbox.clear()

    def detach(self) -> None:
        """The host let go (or the dial was unplugged): the firmware sees no one connected."""
        with self._lock:
            self._deliver = None
            self._inbox.clear()

    def feed(self, data: bytes) -> None:
        with self._lock:
            if self._deliver is None:
                raise TransportError(f"{self.location} is not connected")
            self._inbox += data

    # -- usb_cdc.Serial, for the firmware

    @property
    def connected(self) -> bool:
        return self._deliver is not None

    @property
    def in_waiting(self) -> int:
        return len(self._inbox)

    @property
    def out_waiting(self) -> int:
        return 0

    def read(self, size: int = -1) -> bytes:
        with self._lock:
            end = len(self._inbox) if size < 0 else min(size, len(self._inbox))
            data = bytes(self._inbox[:end])
            del self._inbox[:end]
        return data

    def readinto(self, buf: bytearray) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readline(self, size: int = -1) -> bytes | None:
        with self._lock:
            end = self._inbox.find(b"\n") + 1 or len(self._inbox)
            if size >= 0:
                end = min(end, size)
            line = bytes(self._inbox[:end])
            del self._inbox[:end]
        return line or None

    def write(self, buf: bytes | bytearray) -> int:
        data = bytes(buf)
        deliver = self._deliver
        if deliver is not None:
            deliver(data)
        # Unconnected, writes vanish as TinyUSB's do with the port closed.
        if self.on_write is not None:
            self.on_write(data, len(data))
        return len(data)

    def flush(self) -> None:
        return None

    def reset_input_buffer(self) -> None:
        self.read()

    def reset_output_buffer(self) -> None:
        return None


class LoopbackTransport(Transport):
    """The host's side: the device session reads the firmware's port through this."""

    def __init__(self, port: LoopbackPort) -> None:
        self.port = port
        self.location = port.location
        self._receiver: Receiver | None = None

    async def open(self, receiver: Receiver) -> None:
        if self.port.connected:
            raise TransportError(f"{self.location} is already open")
        loop = asyncio.get_running_loop()
        self._receiver = receiver

        def deliver(data: bytes) -> None:
            try:
                loop.call_soon_threadsafe(self._hand_over, data)
            except RuntimeError:
                self.port.detach()  # the loop is gone: nobody is reading

        self.port.attach(deliver)

    def _hand_over(self, data: bytes) -> None:
        if self._receiver is not None:
            self._receiver.data_received(data)

    async def write(self, data: bytes) -> None:
        self.port.feed(data)

    async def close(self) -> None:
        self._receiver = None
        self.port.detach()
