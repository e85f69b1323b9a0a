"""Fakes of CircuitPython's own modules, so the real firmware (dialfw) runs under CPython.

No microcontroller exists where the simulator and the tests run, so these stand in for board,
microcontroller, digitalio, rotaryio, usb_cdc, supervisor, keypad, analogio, neopixel and usb_hid,
one module each, and for os.getenv's reading of settings.toml (os_getenv). They are the only fakes
in the project, and they behave like the board where the firmware could notice: non-blocking
writes that can fall short, wrapping ticks, detent divisors, and the board's errors (a
deinitialised object, an input's value set, a pin without an ADC, a malformed settings.toml line).

Nothing is put into sys.modules on import: install() does that, once, when a simulated dial starts
or a firmware test begins; import the firmware's modules only after it.
"""

from __future__ import annotations

import sys
import threading
import types

from microdial.sim.fakes import analogio, digitalio, keypad, neopixel, rotaryio, usb_cdc, usb_hid
from microdial.sim.fakes.board import (
    DEFAULT_UID,
    PIN_NAMES,
    Pin,
    board_module,
    microcontroller_module,
    module,
)
from microdial.sim.fakes.keypad import Event, EventQueue, Keys
from microdial.sim.fakes.os_getenv import SettingsToml
from microdial.sim.fakes.rotaryio import IncrementalEncoder
from microdial.sim.fakes.supervisor import (
    SUPERVISOR,
    TICKS_MASK,
    TICKS_PERIOD,
    TICKS_START,
    Supervisor,
    supervisor_module,
)
from microdial.sim.fakes.usb_cdc import Serial
from microdial.sim.fakes.usb_hid import HidDevice

__all__ = [
    "DEFAULT_UID",
    "MODULE_NAMES",
    "PIN_NAMES",
    "SUPERVISOR",
    "TICKS_MASK",
    "TICKS_PERIOD",
    "TICKS_START",
    "Event",
    "EventQueue",
    "HidDevice",
    "IncrementalEncoder",
    "Keys",
    "Pin",
    "Serial",
    "SettingsToml",
    "Supervisor",
    "build_modules",
    "install",
]


def build_modules(uid: bytes = DEFAULT_UID) -> dict[str, types.ModuleType]:
    """A fresh set of the fake modules (not installed)."""
    return {
        "board": board_module(),
        "rotaryio": module("rotaryio", IncrementalEncoder=rotaryio.IncrementalEncoder),
        "usb_cdc": usb_cdc.usb_cdc_module(),
        "supervisor": supervisor_module(),
        "microcontroller": microcontroller_module(uid),
        "digitalio": module(
            "digitalio",
            DigitalInOut=digitalio.DigitalInOut,
            Direction=digitalio.Direction,
            Pull=digitalio.Pull,
        ),
        "keypad": module("keypad", Keys=keypad.Keys, Event=keypad.Event, EventQueue=keypad.EventQueue),
        "analogio": module("analogio", AnalogIn=analogio.AnalogIn),
        "neopixel": module("neopixel", NeoPixel=neopixel.NeoPixel),
        "usb_hid": usb_hid.usb_hid_module(),
    }


MODULE_NAMES = tuple(build_modules())
_install_lock = threading.Lock()


def install(uid: bytes = DEFAULT_UID) -> dict[str, types.ModuleType]:
    """Put the fakes into sys.modules; later calls (from any thread) keep the installed ones and
    their state, since the firmware's modules hold on to what they imported."""
    with _install_lock:
        if getattr(sys.modules.get("rotaryio"), "IncrementalEncoder", None) is IncrementalEncoder:
            return {name: sys.modules[name] for name in MODULE_NAMES}
        modules = build_modules(uid)
        sys.modules.update(modules)
        return modules
