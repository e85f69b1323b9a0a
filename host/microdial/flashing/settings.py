"""The dial's settings as the host checks them: a model of every MICRODIAL_* key the firmware reads
(dialfw.settings), with the firmware's defaults and ranges, checked against a board's pins.

The firmware falls back to a default for a bad entry, because a dial has no screen to complain on.
The host is where a mistake should be caught, before the file reaches the dial.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from microdial.flashing.boards import ADC_GPIOS, BOARD_PINS, BOARDS, DEFAULT_BOARD, BoardInfo

PinName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=32)]
# The label goes into wire records as text (no field or record delimiters, protocol/SPEC.md 1.1) and
# into the USB product name, which is ASCII: the same rule as firmware/dialfw/settings.py.


# The firmware's limit (dialfw.settings.MAX_LABEL): bytes, which for ASCII are also characters.
LABEL_MAX_BYTES = 32


def _label(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    bad = sorted({ch for ch in value if ch in ",*$" or not " " <= ch <= "~"})
    if bad:
        raise ValueError(
            f"must not contain {' '.join(ascii(ch) for ch in bad)} (printable ASCII only, and no , * $)"
        )
    if len(value.encode()) > LABEL_MAX_BYTES:
        raise ValueError(f"is {len(value.encode())} bytes, longer than {LABEL_MAX_BYTES}")
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


def validate(
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
    settings, problems = validate(values, {}, board)
    if settings is None:
        raise SettingsFileError(origin, problems)
    return settings


def _merged(values: dict[str, Any]) -> dict[str, Any]:
    return FirmwareSettings().model_dump() | values
