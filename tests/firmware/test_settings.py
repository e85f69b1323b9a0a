"""settings.toml handling (os.getenv stand-ins: plain dicts) and the documented example file."""

from __future__ import annotations

import tomllib
from pathlib import Path

from dialfw.settings import DEFAULTS, load

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
