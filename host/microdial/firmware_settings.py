"""The dial's settings.toml: a model of its MICRODIAL_* keys, board pin tables, load and write.

The firmware (dialfw.settings) reads these keys with os.getenv and falls back to a default for a
bad entry, because a dial has no screen to complain on. The host is where a typo should be caught,
with the line it is on, before the file reaches the dial: `microdial firmware check` and
`microdial firmware install` both validate through this model.

CircuitPython reads only a subset of TOML (docs.circuitpython.org, "Environment Variables"):
top-level `key = "basic string"` or `key = integer`; keys after a `[table]` header are invisible
to os.getenv. This module reads and writes exactly that subset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from microdial.errors import ConfigError

# Pin names per board as the board module spells them, with the RP2040 GPIO each one is.
# Taken from CircuitPython's ports/raspberrypi/boards/<board>/pins.c (as shipped in the
# circuitpython-stubs board_definitions). Aliases share a GPIO; that is how conflicts are found.
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

PinName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=32)]
# The label goes into wire records as text (no field or record delimiters, protocol/SPEC.md 1.1) and
# into the USB product name, which is ASCII: the same rule as firmware/dialfw/settings.py.


def _label(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value) > 32:
        raise ValueError("is longer than 32 characters")
    bad = sorted({ch for ch in value if ch in ",*$" or not " " <= ch <= "~"})
    if bad:
        raise ValueError(
            f"must not contain {' '.join(repr(ch) for ch in bad)} (printable ASCII only, and no , * $)"
        )
    return value


Label = Annotated[str, AfterValidator(_label)]


class FirmwareSettings(BaseModel):
    """Every key the firmware reads, with the firmware's defaults (dialfw.settings.DEFAULTS).

    Validating with context={"board": name} also checks the pins against that board; without
    a context the board is the Pico, whose pin names the defaults use.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    MICRODIAL_INPUT: Literal["encoder", "pot"] = "encoder"
    MICRODIAL_PIN_A: PinName = "GP2"
    MICRODIAL_PIN_B: PinName = "GP3"
    MICRODIAL_PIN_BUTTON: PinName = "GP4"
    MICRODIAL_PIN_POT: PinName = "GP26"
    MICRODIAL_PIN_LIGHT: PinName = "LED"
    MICRODIAL_STEPS_PER_DETENT: int = Field(default=4, ge=1, le=64)
    MICRODIAL_DIRECTION: Literal[1, -1] = 1
    MICRODIAL_RATE_HZ: int = Field(default=50, ge=1, le=1000)
    MICRODIAL_LONG_PRESS_MS: int = Field(default=800, ge=100, le=10000)
    MICRODIAL_LABEL: Label = "dial"
    MICRODIAL_USB_MODE: Literal["serial", "hid"] = "serial"

    @model_validator(mode="after")
    def _pins_fit_board(self, info: ValidationInfo) -> FirmwareSettings:
        context = info.context if isinstance(info.context, dict) else {}
        problems = pin_problems(self, context.get("board", DEFAULT_BOARD))
        if problems:
            raise ValueError("; ".join(f"{key}: {message}" for key, message, _ in problems))
        return self


KEYS: tuple[str, ...] = tuple(FirmwareSettings.model_fields)


def _listing(board: BoardInfo) -> str:
    return ", ".join(sorted(board.pins, key=lambda name: (board.pins[name], name)))


def pin_problems(settings: FirmwareSettings, board_name: str) -> list[tuple[str, str, str]]:
    """(key, message, related key) for each pin the chosen input uses that does not work on the
    board; the related key is the other setting involved (or the key itself)."""
    board = BOARDS[board_name]
    used = ["MICRODIAL_PIN_BUTTON", "MICRODIAL_PIN_LIGHT"]
    used[:0] = (
        ["MICRODIAL_PIN_A", "MICRODIAL_PIN_B"]
        if settings.MICRODIAL_INPUT == "encoder"
        else ["MICRODIAL_PIN_POT"]
    )
    problems: list[tuple[str, str, str]] = []
    gpio: dict[str, int] = {}
    for key in used:
        name = getattr(settings, key)
        if name not in board.pins:
            problems.append(
                (key, f"{name!r} is not a pin of the {board.title} (pins: {_listing(board)})", key)
            )
            continue
        gpio[key] = board.pins[name]
    if settings.MICRODIAL_INPUT == "encoder" and {"MICRODIAL_PIN_A", "MICRODIAL_PIN_B"} <= gpio.keys():
        a, b = gpio["MICRODIAL_PIN_A"], gpio["MICRODIAL_PIN_B"]
        if abs(a - b) != 1:
            problems.append(
                (
                    "MICRODIAL_PIN_B",
                    f"encoder pins must be consecutive GPIOs on the RP2040 (rotaryio), but "
                    f"{settings.MICRODIAL_PIN_A} is GPIO{a} and {settings.MICRODIAL_PIN_B} is GPIO{b}",
                    "MICRODIAL_PIN_A",
                )
            )
    if "MICRODIAL_PIN_POT" in gpio and gpio["MICRODIAL_PIN_POT"] not in ADC_GPIOS:
        analog = ", ".join(name for name, n in board.pins.items() if n in ADC_GPIOS)
        problems.append(
            (
                "MICRODIAL_PIN_POT",
                f"{settings.MICRODIAL_PIN_POT!r} is not an analog input (use one of {analog})",
                "MICRODIAL_PIN_POT",
            )
        )
    seen: dict[int, str] = {}
    for key, number in gpio.items():
        if number in seen:
            problems.append(
                (key, f"{getattr(settings, key)!r} is the same GPIO{number} as {seen[number]}", seen[number])
            )
        else:
            seen[number] = key
    return problems


def board_defaults(board_name: str) -> dict[str, Any]:
    """The firmware defaults with the pins changed to the board's wiring (hardware/wiring.toml)."""
    return FirmwareSettings().model_dump() | BOARD_PINS[board_name]


def board_for_id(board_id: str) -> str | None:
    return next((name for name, info in BOARDS.items() if info.board_id == board_id), None)


# --- the settings.toml subset -------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    key: str
    value: str | int
    line: int


@dataclass(frozen=True)
class Problem:
    line: int | None
    key: str | None
    message: str

    def format(self, origin: str) -> str:
        where = f"{origin}:{self.line}" if self.line is not None else origin
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class SettingsFileError(ConfigError):
    """A settings.toml that the dial would misread; one line per problem."""

    def __init__(self, origin: str, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(problem.format(origin) for problem in problems))


_KEY = r"[A-Za-z0-9_-]+"
_ASSIGNMENT = re.compile(rf"^\s*({_KEY})\s*=\s*(.*?)\s*$")
_TABLE = re.compile(r"^\s*\[")
_INTEGER = re.compile(r"^[+-]?(0|[1-9](_?[0-9])*)$")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def _string(raw: str) -> tuple[str, str]:
    """(value, rest after the closing quote) of a basic string starting at raw[0] == '"'."""
    out: list[str] = []
    i = 1
    while i < len(raw):
        ch = raw[i]
        if ch == '"':
            return "".join(out), raw[i + 1 :]
        if ch == "\\":
            code = raw[i + 1 : i + 2]
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
                i += 2
                continue
            width = {"u": 4, "U": 8}.get(code)
            digits = raw[i + 2 : i + 2 + width] if width else ""
            if width and re.fullmatch(r"[0-9A-Fa-f]+", digits) and len(digits) == width:
                out.append(chr(int(digits, 16)))
                i += 2 + width
                continue
            raise ValueError(f"unknown escape \\{code} in string")
        out.append(ch)
        i += 1
    raise ValueError("string has no closing double quote")


def _value(raw: str) -> str | int:
    if raw.startswith('"'):
        value, rest = _string(raw)
    else:
        token, _, comment = raw.partition("#")
        value, rest = token.strip(), ("#" + comment if comment else "")
        if not _INTEGER.match(value):
            raise ValueError(
                f"{value or raw!r} is neither a double-quoted string nor a decimal integer "
                "(the values the firmware reads)"
            )
    rest = rest.strip()
    if rest and not rest.startswith("#"):
        raise ValueError(f"unexpected {rest!r} after the value")
    return value if isinstance(value, str) and raw.startswith('"') else int(str(value).replace("_", ""))


def parse(text: str) -> tuple[list[Entry], list[Problem]]:
    """Top-level MICRODIAL_* entries in file order, and one problem per line the dial would not read."""
    entries: list[Entry] = []
    problems: list[Problem] = []
    in_table = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if _TABLE.match(line):
            in_table = True
            continue
        match = _ASSIGNMENT.match(line)
        if not match:
            problems.append(Problem(number, None, f"cannot read {stripped!r}: expected KEY = value"))
            continue
        key, raw = match.groups()
        if not key.startswith("MICRODIAL_"):
            # Other settings are CircuitPython's or another program's; newer CircuitPython
            # versions take more value types for them, so they are left as they are.
            continue
        if in_table:
            problems.append(Problem(number, key, "is inside a [table], where os.getenv does not see it"))
            continue
        try:
            entries.append(Entry(key, _value(raw), number))
        except ValueError as err:
            problems.append(Problem(number, key, str(err)))
    return entries, problems


def _collect(text: str) -> tuple[dict[str, Any], dict[str, int], list[Problem]]:
    entries, problems = parse(text)
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for entry in entries:
        if entry.key not in KEYS:
            problems.append(Problem(entry.line, entry.key, f"unknown key (known: {', '.join(KEYS)})"))
        elif entry.key in lines:
            problems.append(Problem(entry.line, entry.key, f"set twice (first on line {lines[entry.key]})"))
        else:
            values[entry.key] = entry.value
            lines[entry.key] = entry.line
    return values, lines, problems


def check_text(text: str, board: str = DEFAULT_BOARD) -> tuple[FirmwareSettings | None, list[Problem]]:
    """The settings a dial would run with, or None and every problem found, each with its line."""
    values, lines, problems = _collect(text)
    found = _validate(values, lines, board)
    problems.extend(found[1])
    if problems:
        return None, sorted(problems, key=lambda p: (p.line or 0, p.key or ""))
    return found[0], []


def _validate(
    values: dict[str, Any], lines: dict[str, int], board: str
) -> tuple[FirmwareSettings | None, list[Problem]]:
    try:
        # Strict: the firmware's int() would take "4" where an integer belongs, but a quoted
        # number in a hand-edited file is usually a mistake worth pointing at.
        return FirmwareSettings.model_validate(values, strict=True, context={"board": board}), []
    except ValidationError as err:
        problems: list[Problem] = []
        for error in err.errors():
            key = str(error["loc"][0]) if error["loc"] else None
            if key is None:
                pins = pin_problems(FirmwareSettings.model_construct(**_merged(values)), board)
                problems.extend(Problem(lines.get(k, lines.get(other)), k, m) for k, m, other in pins)
            else:
                message = error["msg"].removeprefix("Value error, ")
                problems.append(Problem(lines.get(key), key, f"{message} (got {error['input']!r})"))
        return None, problems


def settings_for(
    values: dict[str, Any], board: str = DEFAULT_BOARD, origin: str = "settings"
) -> FirmwareSettings:
    """Settings from plain values (flags, a preset) checked for the board, or SettingsFileError."""
    settings, problems = _validate(values, {}, board)
    if settings is None:
        raise SettingsFileError(origin, problems)
    return settings


def _merged(values: dict[str, Any]) -> dict[str, Any]:
    return FirmwareSettings().model_dump() | values


def load(path: Path, board: str = DEFAULT_BOARD) -> FirmwareSettings:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SettingsFileError(str(path), [Problem(None, None, "is not UTF-8 text")]) from None
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}") from None
    settings, problems = check_text(text, board)
    if settings is None:
        raise SettingsFileError(str(path), problems)
    return settings


def read_values(path: Path) -> dict[str, Any]:
    """The MICRODIAL_* entries a file sets (not yet checked against each other or a board)."""
    try:
        values, _, problems = _collect(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from None
    if problems:
        raise SettingsFileError(str(path), problems)
    return values


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


_HEADER = "# microdial dial settings, written by `microdial firmware install`."


def render(settings: FirmwareSettings, existing: str = "") -> str:
    """settings.toml text: every MICRODIAL_* key set explicitly, other top-level lines of
    `existing` (comments, CIRCUITPY_* settings, tables) kept as they were."""
    kept: list[str] = []
    in_table = False
    for line in existing.splitlines():
        if _TABLE.match(line):
            in_table = True
        match = _ASSIGNMENT.match(line)
        if line == _HEADER or (not in_table and match and match.group(1).startswith("MICRODIAL_")):
            continue
        kept.append(line)
    ours = [_HEADER]
    for key, value in settings.model_dump().items():
        ours.append(f"{key} = {_quote(value) if isinstance(value, str) else value}")
    while kept and not kept[-1].strip():
        kept.pop()
    while kept and not kept[0].strip():
        kept.pop(0)
    # Ours go first: everything after a [table] header would be invisible to os.getenv.
    body = ours + (["", *kept] if kept else [])
    return "\n".join(body) + "\n"
