"""The dial's settings.toml: the subset of TOML that CircuitPython's os.getenv reads, parsed and
written with the line each problem is on.

CircuitPython reads only top-level `key = "basic string"` or `key = integer` lines; keys after a
`[table]` header are invisible to os.getenv (docs.circuitpython.org, "Environment Variables").
Lines that are not valid there are where versions differ: CircuitPython 9's os.getenv raises
ValueError for an unquoted string or an unterminated quote, which stopped older firmware at boot,
and 10.x returns unquoted text as is and nothing for an unterminated quote. So this flags both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from microdial.errors import ConfigError
from microdial.flashing.boards import DEFAULT_BOARD
from microdial.flashing.settings import (
    KEYS,
    FirmwareSettings,
    Problem,
    SettingsFileError,
    board_defaults,
    settings_for,
    validate,
)


@dataclass(frozen=True)
class Entry:
    key: str
    value: str | int
    line: int


_KEY = r"[A-Za-z0-9_-]+"
_ASSIGNMENT = re.compile(rf"^\s*({_KEY})\s*=\s*(.*?)\s*$")
_TABLE = re.compile(r"^\s*\[")
# What the firmware reads on every CircuitPython version: 10.x hands it the text, and the firmware
# takes ASCII digits and a minus sign only (no +, _, 0x).
_INTEGER = re.compile(r"^-?(0|[1-9][0-9]*)$")
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
    raise ValueError(
        'unterminated string: add the closing " (CircuitPython 9 stops with ValueError, 10 ignores the value)'
    )


def _value(raw: str) -> str | int:
    if raw.startswith('"'):
        value, rest = _string(raw)
    else:
        token, _, comment = raw.partition("#")
        value, rest = token.strip(), ("#" + comment if comment else "")
        if not _INTEGER.match(value):
            if not value:
                raise ValueError("has no value")
            raise ValueError(
                f"unquoted value {value!r}: write {_quote(value)} for text or a plain decimal integer "
                "(CircuitPython 9 stops with ValueError on it)"
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
    found = validate(values, lines, board)
    problems.extend(found[1])
    if problems:
        return None, sorted(problems, key=lambda p: (p.line or 0, p.key or ""))
    return found[0], []


def check_file(path: Path, board: str = DEFAULT_BOARD) -> tuple[FirmwareSettings | None, list[Problem]]:
    """check_text on a file; ConfigError when it cannot be read as UTF-8 text."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from None
    return check_text(text, board)


def describe(settings: FirmwareSettings) -> str:
    """One line saying how a dial with these settings is wired and runs."""
    pins = (
        f"encoder on {settings.MICRODIAL_PIN_A}/{settings.MICRODIAL_PIN_B}"
        if settings.MICRODIAL_INPUT == "encoder"
        else f"pot on {settings.MICRODIAL_PIN_POT}"
    )
    return (
        f"{pins}, button {settings.MICRODIAL_PIN_BUTTON}, light {settings.MICRODIAL_PIN_LIGHT}, "
        f"{settings.MICRODIAL_RATE_HZ} Hz, {settings.MICRODIAL_USB_MODE}, label {settings.MICRODIAL_LABEL!r}"
    )


def compose(board: str, path: Path | None, flags: dict[str, Any]) -> FirmwareSettings:
    """The settings to install, lowest first: the firmware defaults with the board's pins, then
    the entries of the file at path, then flags; checked for the board (SettingsFileError)."""
    values = board_defaults(board) | (read_values(path) if path is not None else {}) | flags
    return settings_for(values, board, "settings from flags" + (f" and {path}" if path else ""))


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
