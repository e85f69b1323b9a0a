"""The boards the dial firmware runs on: their pin names, which GPIO each is, and the dial's wiring.

Pin names are as each board module spells them, taken from CircuitPython's
ports/raspberrypi/boards/<board>/pins.c (as shipped in the circuitpython-stubs board_definitions).
Aliases share a GPIO; that is how conflicts are found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

_PICO: dict[str, int] = {f"GP{n}": n for n in range(29)} | {
    "SMPS_MODE": 23,
    "VBUS_SENSE": 24,
    "LED": 25,
    "GP26_A0": 26,
    "A0": 26,
    "GP27_A1": 27,
    "A1": 27,
    "GP28_A2": 28,
    "A2": 28,
    "A3": 29,
    "VOLTAGE_MONITOR": 29,
}
_KB2040: dict[str, int] = {f"D{n}": n for n in range(11)} | {
    "TX": 0,
    "RX": 1,
    "BUTTON": 11,
    "D11": 11,
    "SDA": 12,
    "D12": 12,
    "SCL": 13,
    "D13": 13,
    "NEOPIXEL": 17,
    "CLK": 18,
    "SCK": 18,
    "MOSI": 19,
    "MISO": 20,
    "A0": 26,
    "A1": 27,
    "A2": 28,
    "A3": 29,
}
_QTPY_RP2040: dict[str, int] = {
    "A0": 29,
    "D0": 29,
    "A1": 28,
    "D1": 28,
    "A2": 27,
    "D2": 27,
    "A3": 26,
    "D3": 26,
    "SDA": 24,
    "D4": 24,
    "SCL": 25,
    "D5": 25,
    "TX": 20,
    "D6": 20,
    "RX": 5,
    "D7": 5,
    "SCK": 6,
    "D8": 6,
    "MISO": 4,
    "D9": 4,
    "MOSI": 3,
    "D10": 3,
    "NEOPIXEL": 12,
    "NEOPIXEL_POWER": 11,
    "BUTTON": 21,
    "SDA1": 22,
    "SCL1": 23,
}

Board = Literal["pico", "kb2040", "qtpy_rp2040"]


@dataclass(frozen=True)
class BoardInfo:
    title: str
    board_id: str  # the "Board ID:" line of boot_out.txt
    pins: dict[str, int]


BOARDS: dict[str, BoardInfo] = {
    "pico": BoardInfo("Raspberry Pi Pico", "raspberry_pi_pico", _PICO),
    "kb2040": BoardInfo("Adafruit KB2040", "adafruit_kb2040", _KB2040),
    "qtpy_rp2040": BoardInfo("Adafruit QT Py RP2040", "adafruit_qtpy_rp2040", _QTPY_RP2040),
}
DEFAULT_BOARD: Board = "pico"

# The RP2040's ADC inputs; a potentiometer wiper must be on one of them.
ADC_GPIOS = frozenset({26, 27, 28, 29})

# The defaults use Pico pin names; the other boards need their own. Each set keeps the encoder
# phases on consecutive GPIOs (rotaryio's PIO program on the RP2040 needs that) and the wiper on
# an ADC pin, and matches hardware/wiring.toml.
BOARD_PINS: dict[str, dict[str, str]] = {
    "pico": {
        "MICRODIAL_PIN_A": "GP2",
        "MICRODIAL_PIN_B": "GP3",
        "MICRODIAL_PIN_BUTTON": "GP4",
        "MICRODIAL_PIN_POT": "GP26",
        "MICRODIAL_PIN_LIGHT": "LED",
    },
    "kb2040": {
        "MICRODIAL_PIN_A": "D2",
        "MICRODIAL_PIN_B": "D3",
        "MICRODIAL_PIN_BUTTON": "D4",
        "MICRODIAL_PIN_POT": "A0",
        "MICRODIAL_PIN_LIGHT": "NEOPIXEL",
    },
    "qtpy_rp2040": {
        "MICRODIAL_PIN_A": "A3",
        "MICRODIAL_PIN_B": "A2",
        "MICRODIAL_PIN_BUTTON": "A1",
        "MICRODIAL_PIN_POT": "A0",
        "MICRODIAL_PIN_LIGHT": "NEOPIXEL",
    },
}


def board_for_id(board_id: str) -> str | None:
    return next((name for name, info in BOARDS.items() if info.board_id == board_id), None)
