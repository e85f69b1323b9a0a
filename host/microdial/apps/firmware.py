"""`microdial firmware`: check a dial's settings.toml, install the firmware on a CIRCUITPY drive.

    microdial firmware check settings.toml [--board pico|kb2040|qtpy_rp2040]
    microdial firmware install [--drive PATH] [--board ...] [--input pot] [--label client-dial] [--mpy]

The dial settings come from, lowest first: the firmware defaults with the board's pins
(hardware/wiring.toml), then --settings FILE, then the flags. Where to install from and to
(--drive, --board, --mpy-cross, --bundle) can also come from [firmware] in microdial.toml or
MICRODIAL_FIRMWARE_* variables.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from microdial.config import Options
from microdial.flashing.boards import BOARDS, DEFAULT_BOARD, Board
from microdial.flashing.drive import find_drive, read_boot_out, resolve_board
from microdial.flashing.install import install
from microdial.flashing.settings_file import check_file, compose, describe

# flag -> settings.toml key, and the flag's type
_DIAL_FLAGS: dict[str, tuple[str, type, str]] = {
    "input": ("MICRODIAL_INPUT", str, "encoder or pot"),
    "pin_a": ("MICRODIAL_PIN_A", str, "encoder phase A pin (board pin name)"),
    "pin_b": ("MICRODIAL_PIN_B", str, "encoder phase B pin; must be the GPIO next to A"),
    "pin_button": ("MICRODIAL_PIN_BUTTON", str, "push button pin"),
    "pin_pot": ("MICRODIAL_PIN_POT", str, "potentiometer wiper pin (an analog pin)"),
    "pin_light": ("MICRODIAL_PIN_LIGHT", str, "status light pin, or NEOPIXEL"),
    "steps_per_detent": ("MICRODIAL_STEPS_PER_DETENT", int, "encoder quadrature steps per detent (1..64)"),
    "direction": ("MICRODIAL_DIRECTION", int, "1, or -1 to reverse"),
    "rate_hz": ("MICRODIAL_RATE_HZ", int, "periodic samples per second (1..1000)"),
    "long_press_ms": ("MICRODIAL_LONG_PRESS_MS", int, "long press threshold in ms (100..10000)"),
    "label": ("MICRODIAL_LABEL", str, "short name of this dial"),
    "usb_mode": ("MICRODIAL_USB_MODE", str, "serial or hid"),
}


class InstallSettings(BaseSettings):
    drive: Path | None = Field(None, description="mount point of the CIRCUITPY drive; none: find it")
    board: Board | None = Field(None, description="board; none: from the drive's boot_out.txt")
    mpy: bool = Field(False, description="compile the libraries to .mpy")
    mpy_cross: str = Field("mpy-cross", description="CircuitPython's mpy-cross for the board's version")
    bundle: Path | None = Field(None, description="CircuitPython library bundle directory (for neopixel)")


OPTIONS = Options(InstallSettings, "firmware")


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    boards = ", ".join(f"{name} ({info.title})" for name, info in BOARDS.items())

    check = sub.add_parser("check", help="validate a dial's settings.toml, one line per problem")
    check.add_argument("file", type=Path, help="settings.toml to check")
    check.add_argument("--board", choices=list(BOARDS), default=DEFAULT_BOARD, help=f"board: {boards}")

    inst = sub.add_parser("install", help="copy the firmware and settings to a CIRCUITPY drive and verify")
    OPTIONS.add_to(inst)
    inst.add_argument("--settings", type=Path, help="start from this settings.toml instead of the defaults")
    for name, (_, kind, help_text) in _DIAL_FLAGS.items():
        inst.add_argument("--" + name.replace("_", "-"), type=kind, help=help_text)


def run(args: argparse.Namespace) -> int:
    if args.action == "check":
        return _check(args.file, args.board)
    return _install(args)


def _check(path: Path, board: str) -> int:
    settings, problems = check_file(path, board)
    if settings is None:
        for problem in problems:
            print(problem.format(str(path)), file=sys.stderr)
        return 1
    print(f"{path}: ok for the {BOARDS[board].title}: {describe(settings)}")
    return 0


def _install(args: argparse.Namespace) -> int:
    options = OPTIONS.load(args)
    drive = find_drive(options.drive)
    board = resolve_board(read_boot_out(drive), options.board)
    flags = {
        key: getattr(args, flag)
        for flag, (key, _, _) in _DIAL_FLAGS.items()
        if getattr(args, flag) is not None
    }
    settings = compose(board, args.settings, flags)
    report = install(
        drive,
        settings,
        board=board,
        mpy_cross=options.mpy_cross if options.mpy else None,
        bundle=options.bundle,
    )
    for line in report.lines():
        print(line)
    return 0
