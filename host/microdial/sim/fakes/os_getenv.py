"""Fake of CircuitPython's `os.getenv`, which reads /settings.toml on the board. No microcontroller
exists here, so the simulator and tests hand the firmware this getenv over a settings.toml text.

It reads a line the way CircuitPython's scanner does (shared-module/os/getenv.c): the first
top-level `KEY = value` line whose key matches exactly, nothing after a `[table]` header, a
double-quoted string with \\b \\t \\n \\v \\f \\r \\uXXXX \\UXXXXXXXX escapes (any other escaped
character stands for itself), otherwise a bare value up to `#` or the line end. What it returns
for a line that is not valid for os.getenv is where versions differ:

- CircuitPython 9: a bare value is parsed as an integer and returned as an int; anything else
  bare (`MICRODIAL_INPUT = pot`) raises ValueError, as does an unterminated quote or a bad
  unicode escape.
- CircuitPython 10 (adafruit/circuitpython#10819): every value is returned as a str, a bare one
  as written (stripped); an unterminated quote or a bad escape gives the default, silently.
"""

from __future__ import annotations

CIRCUITPYTHON_VERSIONS = (9, 10)
_HEX = "0123456789abcdefABCDEF"
_ESCAPES = {"b": "\b", "r": "\r", "n": "\n", "t": "\t", "v": "\v", "f": "\f"}


class _Unreadable(ValueError):
    """A line CircuitPython's scanner stops on; the message is CircuitPython's."""


def _byte(ch: str) -> str:
    return "'EOF'" if not ch else repr(ch)


def _value_start(line: str, key: str) -> int | None:
    """Where the value starts if line assigns key, else None."""
    rest = line.lstrip(" \t\r\f\v")
    if not rest.startswith(key):
        return None
    after = rest[len(key) :].lstrip(" \t\r\f\v")
    if not after.startswith("="):
        return None
    return len(line) - len(after) + 1


def _quoted(text: str) -> str:
    """A basic string starting just after its opening quote, with what may follow it."""
    out: list[str] = []
    i = 0
    while True:
        ch = text[i : i + 1]
        i += 1
        if ch in ("", "\n"):
            raise _Unreadable(f"Invalid byte {_byte(ch)}")
        if ch == '"':
            rest = text[i:].lstrip(" \t\r\f\v")
            if rest and not rest.startswith(("#", "\n")):
                raise _Unreadable(f"Invalid byte {_byte(rest[0])}")
            return "".join(out)
        if ch == "\\":
            code = text[i : i + 1]
            i += 1
            if code in ("", "\n"):
                raise _Unreadable(f"Invalid byte {_byte(code)}")
            if code in ("u", "U"):
                width = 4 if code == "u" else 8
                digits = text[i : i + width]
                i += width
                # strtoul stops at the first non-hex character, which CircuitPython names.
                bad = next((c for c in digits if c not in _HEX), "" if len(digits) < width else None)
                if bad is not None:
                    raise _Unreadable(f"Invalid byte {_byte(bad)}")
                point = int(digits, 16)
                if point >= 0x110000:
                    raise _Unreadable("Invalid unicode escape")
                out.append(chr(point))
                continue
            ch = _ESCAPES.get(code, code)
        out.append(ch)


class SettingsToml:
    """os.getenv over the text of a settings.toml, as a given CircuitPython version behaves."""

    def __init__(self, text: str = "", circuitpython: int = 9) -> None:
        if circuitpython not in CIRCUITPYTHON_VERSIONS:
            raise ValueError(
                f"CircuitPython {circuitpython} is not modelled: use one of {CIRCUITPYTHON_VERSIONS}"
            )
        self.text = text
        self.circuitpython = circuitpython

    def getenv(self, key: str, default: object = None) -> object:
        for line in self.text.splitlines(keepends=True):
            if line.lstrip().startswith("["):
                return default
            start = _value_start(line, key)
            if start is not None:
                return self._read(line[start:], default)
        return default

    def _read(self, raw: str, default: object) -> object:
        value = raw.lstrip(" \t\r\f\v")
        if value.startswith('"'):
            try:
                return _quoted(value[1:])
            except _Unreadable:
                if self.circuitpython >= 10:
                    return default
                raise
        bare = value.partition("#")[0].strip()
        if self.circuitpython >= 10:
            return bare
        try:
            # mp_parse_num_integer with base 0, as 9.x does for every unquoted value.
            return int(bare, 0)
        except ValueError:
            raise ValueError("invalid syntax for integer with base 0") from None
