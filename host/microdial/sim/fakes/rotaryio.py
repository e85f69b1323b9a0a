"""Fake of CircuitPython's `rotaryio`: no microcontroller (and no encoder) exists here, so a test
or the simulated hand turns it with step() or turn()."""

from __future__ import annotations

from microdial.sim.fakes.board import Pin
from microdial.sim.fakes.deinit import Deinitable


class IncrementalEncoder(Deinitable):
    """rotaryio.IncrementalEncoder: position counts whole detents of `divisor` quadrature steps,
    and is writable, as on the board."""

    def __init__(self, pin_a: Pin, pin_b: Pin, divisor: int = 4) -> None:
        self.pin_a = pin_a
        self.pin_b = pin_b
        self.divisor = divisor
        self._position = 0
        self._steps = 0

    @property
    def position(self) -> int:
        self._check()
        return self._position

    @position.setter
    def position(self, value: int) -> None:
        self._check()
        self._position = value

    def step(self, quadrature_steps: int) -> None:
        """Turn by raw quadrature transitions; position moves once per full divisor."""
        self._steps += quadrature_steps
        while self._steps >= self.divisor:
            self._steps -= self.divisor
            self._position += 1
        while self._steps <= -self.divisor:
            self._steps += self.divisor
            self._position -= 1

    def turn(self, detents: int) -> None:
        self.step(detents * self.divisor)
