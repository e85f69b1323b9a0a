"""Fakes of CircuitPython's `board` and `microcontroller` modules: no microcontroller exists
here, so the simulator and the firmware tests run the real firmware against these.

The board is a Raspberry Pi Pico-like one: GP0..GP28, the onboard LED, a NeoPixel and A0..A2,
named as a board module names them, so a wrong pin name in settings.toml fails as on the board.
"""

from __future__ import annotations

import types

PIN_NAMES = (*(f"GP{n}" for n in range(29)), "LED", "NEOPIXEL", "A0", "A1", "A2")
# The RP2040's ADC inputs as this board names them; analogio refuses any other pin.
ANALOG_PIN_NAMES = frozenset({"GP26", "GP27", "GP28", "A0", "A1", "A2"})
DEFAULT_UID = bytes.fromhex("E6614103E7452D2F")


class Pin:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"board.{self.name}"


class Processor:
    """microcontroller.cpu: uid is the chip's unique id (8 bytes on the RP2040)."""

    def __init__(self, uid: bytes) -> None:
        self.uid = bytearray(uid)


def module(name: str, **attributes: object) -> types.ModuleType:
    made = types.ModuleType(name)
    made.__dict__.update(attributes)
    return made


def board_module() -> types.ModuleType:
    return module("board", board_id="microdial_fake_pico", **{n: Pin(n) for n in PIN_NAMES})


def microcontroller_module(uid: bytes = DEFAULT_UID) -> types.ModuleType:
    return module("microcontroller", cpu=Processor(uid))
