"""settings.toml handling (os.getenv stand-ins: plain dicts) and the documented example file."""

from __future__ import annotations

import os
import runpy
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from dialfw.settings import DEFAULTS, load
from dialwire import MAX_RECORD, Framer
from microdial.sim import fakes
from microdial.sim.fakes import SettingsToml

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_documented_contract() -> None:
    assert DEFAULTS == {
        "MICRODIAL_INPUT": "encoder",
        "MICRODIAL_PIN_A": "GP2",
        "MICRODIAL_PIN_B": "GP3",
        "MICRODIAL_PIN_BUTTON": "GP4",
        "MICRODIAL_PIN_POT": "GP26",
        "MICRODIAL_PIN_LIGHT": "LED",
        "MICRODIAL_STEPS_PER_DETENT": 4,
        "MICRODIAL_DIRECTION": 1,
        "MICRODIAL_RATE_HZ": 50,
        "MICRODIAL_LONG_PRESS_MS": 800,
        "MICRODIAL_LABEL": "dial",
        "MICRODIAL_USB_MODE": "serial",
    }


def test_example_settings_toml_holds_exactly_the_defaults() -> None:
    example = tomllib.loads((ROOT / "firmware/settings.toml").read_text())
    assert example == DEFAULTS


def test_nothing_set_gives_defaults() -> None:
    assert load({}.get) == (DEFAULTS, [])


def test_values_as_circuitpython_and_cpython_give_them() -> None:
    settings, problems = load(
        {"MICRODIAL_RATE_HZ": 200, "MICRODIAL_DIRECTION": "-1", "MICRODIAL_INPUT": "pot"}.get
    )
    assert problems == []
    assert settings["MICRODIAL_RATE_HZ"] == 200
    assert settings["MICRODIAL_DIRECTION"] == -1
    assert settings["MICRODIAL_INPUT"] == "pot"


def test_each_bad_value_falls_back_with_a_message() -> None:
    bad = {
        "MICRODIAL_INPUT": "slider",
        "MICRODIAL_RATE_HZ": "5000",
        "MICRODIAL_STEPS_PER_DETENT": "x",
        "MICRODIAL_LABEL": "Zürich",
        "MICRODIAL_USB_MODE": "",
        "MICRODIAL_LONG_PRESS_MS": 50,
    }
    settings, problems = load(bad.get)
    assert settings == DEFAULTS
    assert len(problems) == len(bad)
    assert "MICRODIAL_RATE_HZ=5000 must be 1..1000; using 50" in problems
    assert "MICRODIAL_INPUT=slider must be one of encoder|pot; using encoder" in problems


def test_label_must_be_printable_ascii_without_framing_characters() -> None:
    for bad in ("a,b", "x*", "$", "tab\there", "é"):
        settings, problems = load({"MICRODIAL_LABEL": bad}.get)
        assert settings["MICRODIAL_LABEL"] == "dial" and len(problems) == 1
    assert load({"MICRODIAL_LABEL": "client dial 2"}.get)[1] == []


# Lines os.getenv cannot read as TOML, each naming MICRODIAL_INPUT. What 9.x and 10.x make of
# them is modelled by the fake (tests/sim/test_os_getenv.py checks it against CircuitPython's).
MALFORMED = {
    "unquoted string": "MICRODIAL_INPUT = pot\n",
    "unterminated quote": 'MICRODIAL_INPUT = "pot\n',
    "text after the quote": 'MICRODIAL_INPUT = "pot" please\n',
    "unterminated at the end of the file": 'MICRODIAL_INPUT = "pot',
}


@pytest.mark.parametrize("line", MALFORMED.values(), ids=MALFORMED.keys())
def test_circuitpython_9_raising_getenv_starts_on_defaults_and_names_the_key(line: str) -> None:
    settings, problems = load(SettingsToml("MICRODIAL_RATE_HZ = 25\n" + line, 9).getenv)
    assert settings == DEFAULTS | {"MICRODIAL_RATE_HZ": 25}
    assert len(problems) == 1
    assert problems[0].startswith("MICRODIAL_INPUT: line unreadable (")
    assert problems[0].endswith("; using encoder")


def test_circuitpython_10_reads_an_unquoted_string_as_text_and_misses_an_unterminated_quote() -> None:
    assert load(SettingsToml(MALFORMED["unquoted string"], 10).getenv) == (
        DEFAULTS | {"MICRODIAL_INPUT": "pot"},
        [],
    )
    # 10.x gives None for an unterminated quote: the dial cannot tell it from an absent key, which
    # is why `microdial firmware check` flags it.
    assert load(SettingsToml(MALFORMED["unterminated quote"], 10).getenv) == (DEFAULTS, [])


@pytest.mark.parametrize("version", [9, 10])
def test_every_key_as_circuitpython_gives_it(version: int) -> None:
    example = (ROOT / "firmware/settings.toml").read_text()
    assert load(SettingsToml(example, version).getenv) == (DEFAULTS, [])


def test_integers_take_ascii_digits_only() -> None:
    for bad in ("\u0663", "+5", "5_0", " "):
        settings, problems = load({"MICRODIAL_RATE_HZ": bad}.get)
        assert settings["MICRODIAL_RATE_HZ"] == 50 and problems, bad
    assert load({"MICRODIAL_RATE_HZ": " 75 "}.get)[0]["MICRODIAL_RATE_HZ"] == 75


def test_label_limit_is_in_bytes_of_ascii() -> None:
    assert load({"MICRODIAL_LABEL": "x" * 32}.get)[1] == []
    settings, problems = load({"MICRODIAL_LABEL": "x" * 33}.get)
    assert settings["MICRODIAL_LABEL"] == "dial" and "longer than 32 bytes" in problems[0]
    settings, problems = load({"MICRODIAL_LABEL": "\u00dc" * 3}.get)
    assert settings["MICRODIAL_LABEL"] == "dial" and "printable ASCII" in problems[0]


@pytest.mark.parametrize("version", [9, 10])
def test_boot_py_survives_a_malformed_settings_toml(version: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """boot.py runs before USB starts: an exception there leaves the dial without its data port."""
    bad = (
        'MICRODIAL_LABEL = "'
        + "\u00dc" * 60
        + '"\nMICRODIAL_USB_MODE = serial\n'
        + "".join(MALFORMED.values())
    )
    monkeypatch.setattr(os, "getenv", SettingsToml(bad, version).getenv)
    modules = fakes.build_modules()
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    runpy.run_path(str(ROOT / "firmware/boot.py"))
    assert modules["supervisor"].state.usb_identification["product"] == "microdial dial"
    assert modules["usb_cdc"].enabled == {"console": True, "data": True}


def test_every_settings_err_record_is_short_printable_ascii(make_dial: Any) -> None:
    """SPEC 1.1: at most 160 bytes of printable ASCII; 60 x "Ü" once made a 186-byte record."""
    hostile = "\u00dc" * 60 + "\u0663,*$\r\n\x00" * 20
    dial = make_dial(env=dict.fromkeys(DEFAULTS, hostile))
    raw = dial.read_raw()
    errors = [line for line in raw.split(b"\r\n") if line.startswith(b"$ERR,")]
    assert len(errors) == len(DEFAULTS)
    for line in errors:
        assert len(line) + 2 <= MAX_RECORD
        assert all(0x20 <= b <= 0x7E for b in line), line
    decoded = [fields for kind, fields in Framer().feed(raw) if kind == "ERR"]
    assert len(decoded) == len(DEFAULTS)
    assert decoded[0][1:] == [
        "settings",
        "MICRODIAL_INPUT=" + "?" * 24 + "... must be one of encoder|pot; using encoder",
    ]
