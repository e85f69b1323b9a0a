"""Fake of CircuitPython's `usb_cdc` (no microcontroller, and no USB device, exists here): the data
port is the master side of a pseudo-terminal, which a host program opens as it would /dev/ttyACM1.
"""

from __future__ import annotations

import errno
import os
import select
import struct
import types
from collections.abc import Callable

from microdial.sim.fakes.board import module


def _ioctl_int(fd: int, request: int) -> int:
    import fcntl  # POSIX only, as are the ptys this fake needs; imported when used so Windows can import the fakes

    try:
        raw = fcntl.ioctl(fd, request, b"\0\0\0\0")
    except OSError:
        return 0
    count: int = struct.unpack("i", raw)[0]
    return count


WriteHook = Callable[[bytes, int], None]


class Serial:
    """usb_cdc.Serial backed by a file descriptor (a pty master), never blocking.

    Like the real port with timeout = 0 and write_timeout = 0: read() returns what is there and
    write() takes what fits and returns the count. The pty has no DTR, so `connected` means a
    reader holds the other end open (no POLLHUP). Detached (unplugged), writes vanish as
    TinyUSB's do with the port closed. The timeouts are recorded but a write never waits, so
    tests assert the firmware set write_timeout = 0 rather than rely on blocking.
    """

    def __init__(self, fd: int | None = None) -> None:
        self.timeout: float | None = 1.0
        self.write_timeout: float | None = None
        self.on_write: WriteHook | None = None
        self._fd: int | None = None
        # Bytes readline() took from the fd beyond the line it returned.
        self._peeked = b""
        if fd is not None:
            self.attach(fd)

    def attach(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._fd = fd

    def detach(self) -> None:
        self._fd = None
        self._peeked = b""

    @property
    def fd(self) -> int | None:
        return self._fd

    @property
    def connected(self) -> bool:
        if self._fd is None:
            return False
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        return not any(events & select.POLLHUP for _, events in poller.poll(0))

    def _fd_waiting(self) -> int:
        import termios

        return 0 if self._fd is None else _ioctl_int(self._fd, termios.FIONREAD)

    @property
    def in_waiting(self) -> int:
        return len(self._peeked) + self._fd_waiting()

    @property
    def out_waiting(self) -> int:
        import termios

        return 0 if self._fd is None else _ioctl_int(self._fd, termios.TIOCOUTQ)

    def _os_read(self, size: int) -> bytes:
        if self._fd is None or size <= 0:
            return b""
        try:
            return os.read(self._fd, size)
        except BlockingIOError:
            return b""
        except OSError as err:
            if err.errno == errno.EIO:  # nobody holds the other end
                return b""
            raise

    def read(self, size: int = -1) -> bytes:
        """What is there, up to size (all of it when size < 0): timeout 0 never waits."""
        if size < 0:
            data = self._peeked + self._os_read(self._fd_waiting())
            self._peeked = b""
            return data
        data = self._peeked[:size]
        self._peeked = self._peeked[size:]
        return data + self._os_read(size - len(data))

    def readinto(self, buf: bytearray) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readline(self, size: int = -1) -> bytes | None:
        """Up to and including the next newline; with timeout 0, what is there when none has come."""
        self._peeked += self._os_read(self._fd_waiting())
        end = self._peeked.find(b"\n") + 1 or len(self._peeked)
        if size >= 0:
            end = min(end, size)
        line, self._peeked = self._peeked[:end], self._peeked[end:]
        return line or None

    def readlines(self) -> list[bytes | None]:
        lines: list[bytes | None] = []
        while (line := self.readline()) is not None:
            lines.append(line)
        return lines

    def write(self, buf: bytes | bytearray) -> int:
        data = bytes(buf)
        if self._fd is None:
            written = len(data)
        else:
            try:
                written = os.write(self._fd, data)
            except BlockingIOError:
                written = 0
        if self.on_write is not None:
            self.on_write(data, written)
        return written

    def flush(self) -> None:
        return None

    def reset_input_buffer(self) -> None:
        self.read()
        self._peeked = b""

    def reset_output_buffer(self) -> None:
        if self._fd is not None:
            import termios

            termios.tcflush(self._fd, termios.TCOFLUSH)


def usb_cdc_module() -> types.ModuleType:
    """usb_cdc: `data` is None until boot.py enables it, as on the board."""
    made = module("usb_cdc", Serial=Serial, console=Serial(), data=None, enabled={})

    def enable(*, console: bool = True, data: bool = False) -> None:
        made.__dict__["enabled"] = {"console": console, "data": data}
        if data and made.__dict__["data"] is None:
            made.__dict__["data"] = Serial()

    made.__dict__["enable"] = enable
    return made
