"""Fake of CircuitPython's `digitalio` (no microcontroller exists here): a pin's value is a
plain attribute the test reads, with the board's rule that an input's value cannot be set."""

from __future__ import annotations

from microdial.sim.fakes.board import Pin
from microdial.sim.fakes.deinit import Deinitable


class Direction:
    INPUT = "input"
    OUTPUT = "output"


class Pull:
    UP = "up"
    DOWN = "down"


class DigitalInOut(Deinitable):
    def __init__(self, pin: Pin) -> None:
        self.pin = pin
        self.direction = Direction.INPUT
        self.pull: str | None = None
        self._value = False

    @property
    def value(self) -> bool:
        self._check()
        return self._value

    @value.setter
    def value(self, value: bool) -> None:
        self._check()
        if self.direction != Direction.OUTPUT:
            raise AttributeError("Cannot set value when direction is input.")
        self._value = bool(value)

    def switch_to_output(self, value: bool = False) -> None:
        self._check()
        self.direction = Direction.OUTPUT
        self._value = bool(value)
