"""Fake of the Adafruit `neopixel` library a board's /lib holds (no microcontroller, and no
pixel, exists here): the colours shown are kept in `pixels`."""

from __future__ import annotations

from microdial.sim.fakes.board import Pin

Colour = tuple[int, int, int]


class NeoPixel:
    def __init__(self, pin: Pin, n: int, *, brightness: float = 1.0, auto_write: bool = True) -> None:
        self.pin = pin
        self.brightness = brightness
        self.auto_write = auto_write
        self.pixels: list[Colour] = [(0, 0, 0)] * n

    def __setitem__(self, index: int, color: Colour) -> None:
        self.pixels[index] = color

    def __getitem__(self, index: int) -> Colour:
        return self.pixels[index]

    def __len__(self) -> int:
        return len(self.pixels)

    def fill(self, color: Colour) -> None:
        self.pixels = [color] * len(self.pixels)

    def show(self) -> None:
        return None
