"""Fakes of CircuitPython's own modules, so the real firmware (dialfw) runs under CPython.

install() puts board, rotaryio, usb_cdc, supervisor, microcontroller, digitalio, keypad,
analogio, neopixel and usb_hid into sys.modules. The simulator and tests/firmware share these:
they are the only fakes in the project, and they behave like the hardware where the firmware
could notice (non-blocking writes that can fall short, wrapping ticks, detent divisors).
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import struct
import sys
import termios
import time
import types
from collections import deque
from collections.abc import Callable, Sequence

TICKS_PERIOD = 1 << 29
TICKS_MASK = TICKS_PERIOD - 1
# CircuitPython starts supervisor.ticks_ms() this far before its wrap (about 65 s after power-on).
TICKS_START = TICKS_PERIOD - 65_536


class Pin:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"board.{self.name}"


# A Raspberry Pi Pico-like board: GP0..GP28, the onboard LED and a NeoPixel, as a board module has them.
PIN_NAMES = (*(f"GP{n}" for n in range(29)), "LED", "NEOPIXEL", "A0", "A1", "A2")


# -- rotaryio


class IncrementalEncoder:
    """rotaryio.IncrementalEncoder: position counts whole detents of `divisor` quadrature steps."""

    def __init__(self, pin_a: Pin, pin_b: Pin, divisor: int = 4) -> None:
        self.pin_a = pin_a
        self.pin_b = pin_b
        self.divisor = divisor
        self.position = 0
        self._steps = 0
        self.deinited = False

    def step(self, quadrature_steps: int) -> None:
        """Turn by raw quadrature transitions; position moves once per full divisor."""
        self._steps += quadrature_steps
        while self._steps >= self.divisor:
            self._steps -= self.divisor
            self.position += 1
        while self._steps <= -self.divisor:
            self._steps += self.divisor
            self.position -= 1

    def turn(self, detents: int) -> None:
        self.step(detents * self.divisor)

    def deinit(self) -> None:
        self.deinited = True


# -- usb_cdc


def _ioctl_int(fd: int, request: int) -> int:
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
        return 0 if self._fd is None else _ioctl_int(self._fd, termios.FIONREAD)

    @property
    def in_waiting(self) -> int:
        return len(self._peeked) + self._fd_waiting()

    @property
    def out_waiting(self) -> int:
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
            termios.tcflush(self._fd, termios.TCOFLUSH)


# -- supervisor


class Supervisor:
    """supervisor.ticks_ms(): 29-bit wrapping milliseconds from a settable source."""

    def __init__(self) -> None:
        base = time.monotonic_ns()
        self.source: Callable[[], int] = lambda: TICKS_START + (time.monotonic_ns() - base) // 1_000_000

        self.usb_identification: dict[str, object] = {}

    def ticks_ms(self) -> int:
        return self.source() & TICKS_MASK

    def set_usb_identification(
        self, manufacturer: str | None = None, product: str | None = None, vid: int = -1, pid: int = -1
    ) -> None:
        for text in (manufacturer, product):
            if text is not None and (len(text) > 126 or not text.isascii()):
                raise ValueError("USB strings are ASCII, at most 126 characters")
        self.usb_identification = {"manufacturer": manufacturer, "product": product, "vid": vid, "pid": pid}


# -- microcontroller


class Processor:
    def __init__(self, uid: bytes) -> None:
        self.uid = bytearray(uid)


# -- digitalio


class Direction:
    INPUT = "input"
    OUTPUT = "output"


class Pull:
    UP = "up"
    DOWN = "down"


class DigitalInOut:
    def __init__(self, pin: Pin) -> None:
        self.pin = pin
        self.direction = Direction.INPUT
        self.pull: str | None = None
        self.value = False

    def switch_to_output(self, value: bool = False) -> None:
        self.direction = Direction.OUTPUT
        self.value = value

    def deinit(self) -> None:
        return None


# -- keypad


class Event:
    def __init__(self, key_number: int = 0, pressed: bool = True, timestamp: int | None = None) -> None:
        self.key_number = key_number
        self.pressed = pressed
        self.released = not pressed
        self.timestamp = SUPERVISOR.ticks_ms() if timestamp is None else timestamp


class EventQueue:
    def __init__(self, max_events: int = 64) -> None:
        self._events: list[Event] = []
        self._max = max_events
        self.overflowed = False

    def put(self, event: Event) -> None:
        """What the key scanner does: when full the oldest event is dropped and overflowed set."""
        if len(self._events) >= self._max:
            self._events.pop(0)
            self.overflowed = True
        self._events.append(event)

    def get(self) -> Event | None:
        return self._events.pop(0) if self._events else None

    def get_into(self, event: Event) -> bool:
        if not self._events:
            return False
        got = self._events.pop(0)
        event.key_number = got.key_number
        event.pressed = got.pressed
        event.released = got.released
        event.timestamp = got.timestamp
        return True

    def clear(self) -> None:
        self._events.clear()
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._events)

    def __bool__(self) -> bool:
        return bool(self._events)


class Keys:
    """keypad.Keys: the debounced scanner's output is its event queue; tests put events in it."""

    def __init__(
        self,
        pins: Sequence[Pin],
        *,
        value_when_pressed: bool,
        pull: bool = True,
        interval: float = 0.02,
        max_events: int = 64,
        debounce_threshold: int = 1,
    ) -> None:
        self.pins = tuple(pins)
        self.value_when_pressed = value_when_pressed
        self.pull = pull
        self.interval = interval
        self.key_count = len(self.pins)
        self.events = EventQueue(max_events)

    def press(self, key_number: int = 0, timestamp: int | None = None) -> None:
        self.events.put(Event(key_number, True, timestamp))

    def release(self, key_number: int = 0, timestamp: int | None = None) -> None:
        self.events.put(Event(key_number, False, timestamp))

    def deinit(self) -> None:
        return None


# -- analogio


class AnalogIn:
    """analogio.AnalogIn: value is 16-bit (0..65535) whatever the ADC's own resolution."""

    def __init__(self, pin: Pin) -> None:
        self.pin = pin
        self.value = 32768
        self.reference_voltage = 3.3

    def deinit(self) -> None:
        return None


# -- neopixel (the Adafruit library the board's /lib would hold)


class NeoPixel:
    def __init__(self, pin: Pin, n: int, *, brightness: float = 1.0, auto_write: bool = True) -> None:
        self.pin = pin
        self.brightness = brightness
        self.auto_write = auto_write
        self.pixels: list[tuple[int, int, int]] = [(0, 0, 0)] * n

    def __setitem__(self, index: int, color: tuple[int, int, int]) -> None:
        self.pixels[index] = color

    def __getitem__(self, index: int) -> tuple[int, int, int]:
        return self.pixels[index]

    def fill(self, color: tuple[int, int, int]) -> None:
        self.pixels = [color] * len(self.pixels)

    def show(self) -> None:
        return None


# -- usb_hid


class HidDevice:
    """usb_hid.Device. The host side is the test's: it sets `polling` (whether the host polls the
    IN endpoint) and takes reports from `sent`; it delivers OUT reports with receive()."""

    def __init__(
        self,
        *,
        report_descriptor: bytes,
        usage_page: int,
        usage: int,
        report_ids: Sequence[int],
        in_report_lengths: Sequence[int],
        out_report_lengths: Sequence[int],
    ) -> None:
        self.report_descriptor = bytes(report_descriptor)
        self.usage_page = usage_page
        self.usage = usage
        self.report_ids = tuple(report_ids)
        self.in_report_lengths = tuple(in_report_lengths)
        self.out_report_lengths = tuple(out_report_lengths)
        self.sent: deque[bytes] = deque(maxlen=4096)
        self.polling = True
        self._last_out: bytes | None = None

    def _index(self, report_id: int | None) -> int:
        return self.report_ids.index(self.report_ids[0] if report_id is None else report_id)

    def send_report(self, report: bytes | bytearray, report_id: int | None = None) -> None:
        expected = self.in_report_lengths[self._index(report_id)]
        if len(report) != expected:
            raise ValueError(f"report length must be {expected}")
        if not self.polling:
            # What CircuitPython raises after waiting 2 s for a host that does not poll.
            raise OSError(errno.EIO, "USB busy")
        self.sent.append(bytes(report))

    def receive(self, report: bytes) -> None:
        """An OUT report from the host; like the real device, only the latest one is kept."""
        if len(report) != self.out_report_lengths[0]:
            raise ValueError("wrong OUT report length")
        self._last_out = bytes(report)

    def get_last_received_report(self, report_id: int | None = None) -> bytes | None:
        self._index(report_id)
        report, self._last_out = self._last_out, None
        return report


def _usb_hid() -> types.ModuleType:
    """usb_hid: `devices` holds what boot.py enabled."""
    module = _module("usb_hid", Device=HidDevice, devices=())

    def enable(devices: Sequence[HidDevice], boot_device: int = 0) -> None:
        module.__dict__["devices"] = tuple(devices)

    def disable() -> None:
        module.__dict__["devices"] = ()

    module.__dict__["enable"] = enable
    module.__dict__["disable"] = disable
    return module


SUPERVISOR = Supervisor()
DEFAULT_UID = bytes.fromhex("E6614103E7452D2F")


def _module(name: str, **attributes: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


def _usb_cdc() -> types.ModuleType:
    """usb_cdc: `data` is None until boot.py enables it, as on the board."""
    module = _module("usb_cdc", Serial=Serial, console=Serial(), data=None, enabled={})

    def enable(*, console: bool = True, data: bool = False) -> None:
        module.__dict__["enabled"] = {"console": console, "data": data}
        if data and module.__dict__["data"] is None:
            module.__dict__["data"] = Serial()

    module.__dict__["enable"] = enable
    return module


def build_modules(uid: bytes = DEFAULT_UID) -> dict[str, types.ModuleType]:
    return {
        "board": _module("board", board_id="microdial_fake_pico", **{n: Pin(n) for n in PIN_NAMES}),
        "rotaryio": _module("rotaryio", IncrementalEncoder=IncrementalEncoder),
        "usb_cdc": _usb_cdc(),
        "supervisor": _module(
            "supervisor",
            ticks_ms=SUPERVISOR.ticks_ms,
            set_usb_identification=SUPERVISOR.set_usb_identification,
            state=SUPERVISOR,
        ),
        "microcontroller": _module("microcontroller", cpu=Processor(uid)),
        "digitalio": _module("digitalio", DigitalInOut=DigitalInOut, Direction=Direction, Pull=Pull),
        "keypad": _module("keypad", Keys=Keys, Event=Event, EventQueue=EventQueue),
        "analogio": _module("analogio", AnalogIn=AnalogIn),
        "neopixel": _module("neopixel", NeoPixel=NeoPixel),
        "usb_hid": _usb_hid(),
    }


def install(uid: bytes = DEFAULT_UID) -> dict[str, types.ModuleType]:
    """Put the fakes into sys.modules; a second call keeps the installed ones (and their state)."""
    names = (
        "board",
        "rotaryio",
        "usb_cdc",
        "supervisor",
        "microcontroller",
        "digitalio",
        "keypad",
        "analogio",
        "neopixel",
        "usb_hid",
    )
    if getattr(sys.modules.get("rotaryio"), "IncrementalEncoder", None) is IncrementalEncoder:
        return {name: sys.modules[name] for name in names}
    modules = build_modules(uid)
    sys.modules.update(modules)
    return modules
