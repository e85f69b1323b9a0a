"""The fake of CircuitPython's os.getenv over settings.toml, as 9.x and 10.x behave (checked against
adafruit/circuitpython shared-module/os/getenv.c, its tests/circuitpython/getenv.py and #10819)."""

from __future__ import annotations

import pytest

from microdial.sim.fakes import SettingsToml

GOOD = (
    "# comment\n"
    'MICRODIAL_INPUT = "pot"  # trailing comment\n'
    "MICRODIAL_RATE_HZ = 200\n"
    '  MICRODIAL_LABEL="a\\tb\\u00c1\\"q"\r\n'
    'MICRODIAL_PIN_A = "GP2"\n'
    'MICRODIAL_PIN_AB = "GP9"\n'
    "[section]\n"
    'MICRODIAL_PIN_B = "GP3"\n'
)


@pytest.mark.parametrize("version", [9, 10])
def test_valid_lines_read_the_same_text_in_both_versions(version: int) -> None:
    env = SettingsToml(GOOD, version)
    assert env.getenv("MICRODIAL_INPUT") == "pot"
    assert env.getenv("MICRODIAL_LABEL") == 'a\tb\u00c1"q'
    assert env.getenv("MICRODIAL_PIN_A") == "GP2"
    # Nothing after a [table] header is seen; a missing key gives the default.
    assert env.getenv("MICRODIAL_PIN_B") is None
    assert env.getenv("MICRODIAL_PIN_B", "x") == "x"


def test_version_9_returns_an_int_for_a_bare_number_and_10_the_text() -> None:
    assert SettingsToml(GOOD, 9).getenv("MICRODIAL_RATE_HZ") == 200
    assert SettingsToml(GOOD, 10).getenv("MICRODIAL_RATE_HZ") == "200"


BAD = [
    ("MICRODIAL_INPUT = pot\n", "invalid syntax for integer", "pot"),
    ('MICRODIAL_INPUT = "pot\n', "Invalid byte '\\\\n'", None),
    ('MICRODIAL_INPUT = "pot', "Invalid byte 'EOF'", None),
    ('MICRODIAL_INPUT = "pot" x\n', "Invalid byte 'x'", None),
    ('MICRODIAL_INPUT = "\\u00zz"\n', "Invalid byte 'z'", None),
    ("MICRODIAL_INPUT =\n", "invalid syntax for integer", ""),
]


@pytest.mark.parametrize(("line", "error_9", "value_10"), BAD)
def test_malformed_lines_raise_in_9_and_read_loosely_in_10(
    line: str, error_9: str, value_10: str | None
) -> None:
    with pytest.raises(ValueError, match=error_9):
        SettingsToml(line, 9).getenv("MICRODIAL_INPUT")
    assert SettingsToml(line, 10).getenv("MICRODIAL_INPUT") == value_10


def test_only_modelled_versions() -> None:
    with pytest.raises(ValueError, match="not modelled"):
        SettingsToml("", 8)
