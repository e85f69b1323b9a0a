"""The host's model of the dial's settings.toml against the firmware's own defaults and CircuitPython's pins."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from dialfw import settings as fw_settings
from microdial.cli import main
from microdial.errors import ConfigError
from microdial.flashing.boards import BOARD_PINS, BOARDS, DEFAULT_BOARD
from microdial.flashing.settings import (
    KEYS,
    LABEL_MAX_BYTES,
    FirmwareSettings,
    SettingsFileError,
    board_defaults,
    settings_for,
)
from microdial.flashing.settings_file import check_text, read_values, render
from microdial.sim.fakes import SettingsToml

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_TOML = ROOT / "firmware" / "settings.toml"


def load(path: Path, board: str = DEFAULT_BOARD) -> FirmwareSettings:
    """The settings a dial would run with from a file, or SettingsFileError (what install and check do)."""
    settings, problems = check_text(path.read_text(encoding="utf-8"), board)
    if settings is None:
        raise SettingsFileError(str(path), problems)
    return settings


def test_model_defaults_are_the_firmware_defaults() -> None:
    assert FirmwareSettings().model_dump() == fw_settings.DEFAULTS
    assert list(KEYS) == list(fw_settings.DEFAULTS)


def test_model_limits_match_the_firmware_checks() -> None:
    fw = fw_settings
    for key, (low, high) in fw.RANGES.items():
        settings_for({key: low})
        settings_for({key: high})
        for bad in (low - 1, high + 1):
            with pytest.raises(SettingsFileError, match=key):
                settings_for({key: bad})
    for key, choices in fw.CHOICES.items():
        for choice in choices:
            settings_for({key: choice})
        with pytest.raises(SettingsFileError, match=key):
            settings_for({key: "neither"})
    settings_for({"MICRODIAL_LABEL": "x" * fw.MAX_LABEL})
    with pytest.raises(SettingsFileError, match="longer than 32"):
        settings_for({"MICRODIAL_LABEL": "x" * (fw.MAX_LABEL + 1)})


def test_repository_settings_toml_validates_to_the_defaults() -> None:
    settings = load(SETTINGS_TOML)
    assert settings.model_dump() == fw_settings.DEFAULTS


def test_firmware_reads_what_we_write() -> None:
    """render() output, read the way the firmware reads it (values as os.getenv strings), gives the settings back."""
    wanted = settings_for(
        {"MICRODIAL_INPUT": "pot", "MICRODIAL_LABEL": 'say "hi" \\ ok', "MICRODIAL_DIRECTION": -1}
    )
    text = render(wanted)
    parsed, problems = check_text(text)
    assert problems == [] and parsed == wanted
    raw = {entry_key: str(value) for entry_key, value in read_values_from_text(text).items()}
    loaded, fw_problems = fw_settings.load(raw.get)
    assert fw_problems == []
    assert loaded == wanted.model_dump()


def read_values_from_text(text: str) -> dict[str, object]:
    path = Path("settings.toml")
    path.write_text(text, encoding="utf-8")
    return read_values(path)


def test_render_keeps_other_settings_and_puts_ours_before_tables() -> None:
    existing = '# my wifi\nCIRCUITPY_WIFI_SSID = "lab"\nMICRODIAL_LABEL = "old"\n\n[extra]\nMICRODIAL_X = 1\n'
    text = render(settings_for({"MICRODIAL_LABEL": "new"}), existing)
    assert 'CIRCUITPY_WIFI_SSID = "lab"' in text and "# my wifi" in text
    assert '"old"' not in text
    assert text.index('MICRODIAL_LABEL = "new"') < text.index("[extra]")
    # Writing again over our own output changes nothing.
    assert render(settings_for({"MICRODIAL_LABEL": "new"}), text) == text


def test_check_reports_each_problem_with_its_line() -> None:
    text = "\n".join(
        [
            "# comment",
            'MICRODIAL_INPUT = "knob"',
            'MICRODIAL_RATE_HZ = "50"',
            "MICRODIAL_LONG_PRESS_MS = 5",
            'MICRODIAL_LABEL = "a,b"',
            "MICRODIAL_COLOUR = 3",
            "MICRODIAL_DIRECTION = 1",
            "MICRODIAL_DIRECTION = -1",
            "CIRCUITPY_THING = 0x10",
            'MICRODIAL_USB_MODE = "serial',
            "just words",
            "[table]",
            'MICRODIAL_PIN_A = "GP2"',
        ]
    )
    settings, problems = check_text(text)
    assert settings is None
    found = [(p.line, p.key) for p in problems]
    assert found == [
        (2, "MICRODIAL_INPUT"),
        (3, "MICRODIAL_RATE_HZ"),
        (4, "MICRODIAL_LONG_PRESS_MS"),
        (5, "MICRODIAL_LABEL"),
        (6, "MICRODIAL_COLOUR"),
        (8, "MICRODIAL_DIRECTION"),
        (10, "MICRODIAL_USB_MODE"),
        (11, None),
        (13, "MICRODIAL_PIN_A"),
    ]
    lines = [p.format("s.toml") for p in problems]
    assert all("\n" not in line for line in lines)
    assert lines[0].startswith("s.toml:2: MICRODIAL_INPUT:")
    assert "first on line 7" in lines[5]
    assert "[table]" in lines[-1]


@pytest.mark.parametrize("board", list(BOARDS))
@pytest.mark.parametrize("build", ["encoder", "pot"])
def test_each_boards_wiring_is_valid(board: str, build: str) -> None:
    settings = settings_for(board_defaults(board) | {"MICRODIAL_INPUT": build}, board)
    assert BOARD_PINS[board]["MICRODIAL_PIN_A"] == settings.MICRODIAL_PIN_A


def test_pin_rules_line_numbers_and_messages() -> None:
    _, problems = check_text('MICRODIAL_PIN_A = "GP5"\n')
    assert [(p.line, p.key) for p in problems] == [(1, "MICRODIAL_PIN_B")]
    assert "consecutive" in problems[0].message
    _, problems = check_text('MICRODIAL_INPUT = "pot"\nMICRODIAL_PIN_POT = "GP5"\n')
    assert [(p.line, p.key) for p in problems] == [(2, "MICRODIAL_PIN_POT")]
    assert "analog" in problems[0].message
    _, problems = check_text('MICRODIAL_PIN_BUTTON = "GP25"\n')
    assert "same GPIO25" in problems[0].message and problems[0].line == 1
    _, problems = check_text('MICRODIAL_PIN_LIGHT = "NEOPIXEL"\n')
    assert "not a pin of the Raspberry Pi Pico" in problems[0].message
    # The pot build does not use the encoder pins, so they need not exist on the board.
    assert check_text('MICRODIAL_INPUT = "pot"\nMICRODIAL_PIN_A = "NOPE"\n')[1] == []


def test_defaults_are_rejected_on_boards_without_those_pins() -> None:
    _, problems = check_text(SETTINGS_TOML.read_text(), "kb2040")
    assert {p.key for p in problems} == {
        "MICRODIAL_PIN_A",
        "MICRODIAL_PIN_B",
        "MICRODIAL_PIN_BUTTON",
        "MICRODIAL_PIN_LIGHT",
    }


def _stub_pins(board_id: str) -> dict[str, int]:
    spec = importlib.util.find_spec("board_definitions")
    assert spec is not None and spec.submodule_search_locations, "circuitpython-stubs is a dev dependency"
    stub = Path(next(iter(spec.submodule_search_locations))) / board_id / "__init__.pyi"
    pins = re.findall(r"^(\w+): microcontroller\.Pin  # GPIO(\d+)$", stub.read_text(), flags=re.M)
    return {name: int(number) for name, number in pins}


@pytest.mark.parametrize("board", list(BOARDS))
def test_pin_tables_match_circuitpython_board_definitions(board: str) -> None:
    assert BOARDS[board].pins == _stub_pins(BOARDS[board].board_id)


def test_cli_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["firmware", "check", str(SETTINGS_TOML)]) == 0
    assert "ok for the Raspberry Pi Pico" in capsys.readouterr().out
    bad = Path("bad.toml")
    bad.write_text('MICRODIAL_RATE_HZ = 0\nMICRODIAL_PIN_A = "D2"\n')
    assert main(["firmware", "check", str(bad), "--board", "kb2040"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("bad.toml:1: MICRODIAL_RATE_HZ: ")
    assert main(["firmware", "check", "missing.toml"]) == 2
    assert "cannot read missing.toml" in capsys.readouterr().err


def test_reading_rejects_non_utf8() -> None:
    path = Path("latin1.toml")
    path.write_bytes('MICRODIAL_LABEL = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"(?i)utf-8"):
        read_values(path)


@pytest.mark.parametrize("label", ["café", "a,b", "x*y", "tab\there", "$dial"])
def test_labels_the_firmware_would_refuse_are_refused_here_too(label: str) -> None:
    """Host model and firmware agree: the label is a USB product name and a wire text field."""
    _, fw_problems = fw_settings.load({"MICRODIAL_LABEL": label}.get)
    assert fw_problems, "the firmware accepts it"
    _, problems = check_text(f'MICRODIAL_LABEL = "{label}"\n')
    assert any(problem.key == "MICRODIAL_LABEL" for problem in problems)


def test_check_names_key_and_line_for_lines_circuitpython_9_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        '# dial\nMICRODIAL_INPUT = pot\nMICRODIAL_LABEL = "client dial\nMICRODIAL_RATE_HZ = 100\n'
    )
    assert main(["firmware", "check", str(path)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:2: MICRODIAL_INPUT: unquoted value 'pot': write \"pot\"")
    assert lines[1].startswith(f"{path}:3: MICRODIAL_LABEL: unterminated string")


MALFORMED_LINES = [
    "MICRODIAL_INPUT = pot",
    'MICRODIAL_INPUT = "pot',
    'MICRODIAL_INPUT = "pot" extra',
    "MICRODIAL_INPUT =",
    "MICRODIAL_RATE_HZ = 1_000",
    "MICRODIAL_RATE_HZ = +100",
    "MICRODIAL_RATE_HZ = 0x64",
]


@pytest.mark.parametrize("line", MALFORMED_LINES)
def test_check_flags_exactly_the_lines_some_circuitpython_would_not_read_as_written(line: str) -> None:
    key = line.split()[0]
    _, problems = check_text(line + "\n")
    assert [(p.line, p.key) for p in problems] == [(1, key)]
    # Not over-strict: on 9 or on 10 (the fake os.getenv of each) the dial falls back for this line.
    outcomes = [fw_settings.load(SettingsToml(line + "\n", version).getenv) for version in (9, 10)]
    assert any(
        fw_problems or settings[key] == fw_settings.DEFAULTS[key] for settings, fw_problems in outcomes
    )


@pytest.mark.parametrize(
    ("label", "message"),
    [("\u00dc" * 60, "printable ASCII only"), ("x" * 33, "33 bytes, longer than 32"), ("x" * 32, None)],
)
def test_label_is_ascii_and_limited_in_bytes_as_the_firmware_has_it(label: str, message: str | None) -> None:
    assert fw_settings.MAX_LABEL == LABEL_MAX_BYTES
    _, problems = check_text(f'MICRODIAL_LABEL = "{label}"\n')
    _, fw_problems = fw_settings.load({"MICRODIAL_LABEL": label}.get)
    if message is None:
        assert problems == [] and fw_problems == []
    else:
        assert len(problems) == 1 and message in problems[0].message and fw_problems
