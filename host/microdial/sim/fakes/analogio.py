"""Fake of CircuitPython's `analogio` (no microcontroller exists here): a test sets `value`."""

from __future__ import annotations

from microdial.sim.fakes.board import ANALOG_PIN_NAMES, Pin
from microdial.sim.fakes.deinit import Deinitable


class AnalogIn(Deinitable):
    """analogio.AnalogIn: value is 16-bit (0..65535) whatever the ADC's own resolution."""

    def __init__(self, pin: Pin) -> None:
        if pin.name not in ANALOG_PIN_NAMES:
            raise ValueError(f"{pin.name} does not have ADC capabilities")
        self.pin = pin
        self._value = 32768
        self.reference_voltage = 3.3

    @property
    def value(self) -> int:
        self._check()
        return self._value

    @value.setter
    def value(self, value: int) -> None:
        """Not settable on the board: this is the test's hand on the wiper."""
        if not 0 <= value <= 65535:
            raise ValueError("a 16-bit reading is 0..65535")
        self._value = value
