"""Fake of CircuitPython's `supervisor` (no microcontroller exists here): ticks_ms() from a
settable source, wrapping at 2**29 ms and starting ~65 s before the wrap as on the board."""

from __future__ import annotations

import time
import types
from collections.abc import Callable

from microdial.sim.fakes.board import module

TICKS_PERIOD = 1 << 29
TICKS_MASK = TICKS_PERIOD - 1
# CircuitPython starts supervisor.ticks_ms() this far before its wrap (about 65 s after power-on).
TICKS_START = TICKS_PERIOD - 65_536
# USB string descriptors hold at most this many (ASCII) characters.
MAX_USB_STRING = 126


class Supervisor:
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
            if text is not None and (len(text) > MAX_USB_STRING or not text.isascii()):
                raise ValueError(f"USB strings are ASCII, at most {MAX_USB_STRING} characters")
        self.usb_identification = {"manufacturer": manufacturer, "product": product, "vid": vid, "pid": pid}


SUPERVISOR = Supervisor()


def supervisor_module() -> types.ModuleType:
    return module(
        "supervisor",
        ticks_ms=SUPERVISOR.ticks_ms,
        set_usb_identification=SUPERVISOR.set_usb_identification,
        state=SUPERVISOR,
    )
