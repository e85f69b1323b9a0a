"""hardware/: wiring.toml, the generated drawings and the udev rules agree with the firmware defaults."""

from __future__ import annotations

import importlib.util
import math
import re
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

from dialfw.settings import DEFAULTS
from microdial.flashing.boards import BOARD_PINS, BOARDS
from microdial.flashing.settings import FirmwareSettings, settings_for

HARDWARE = Path(__file__).resolve().parents[2] / "hardware"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def drawings() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_drawings", HARDWARE / "make_drawings.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def wiring() -> dict[str, object]:
    with open(HARDWARE / "wiring.toml", "rb") as handle:
        return tomllib.load(handle)


def test_committed_drawings_are_generated_from_wiring_toml(drawings: ModuleType) -> None:
    for name, text in drawings.outputs(drawings.load()).items():
        assert (HARDWARE / name).read_text(encoding="utf-8") == text, (
            f"run python hardware/make_drawings.py ({name})"
        )


def test_pico_pins_are_the_firmware_defaults(wiring: dict) -> None:  # type: ignore[type-arg]
    pins = wiring["boards"]["pico"]["pins"]
    assert pins == {key: DEFAULTS[key] for key in pins}
    assert set(pins) == {key for key in DEFAULTS if key.startswith("MICRODIAL_PIN_")}
    assert FirmwareSettings().model_dump() == DEFAULTS


@pytest.mark.parametrize("board", list(BOARDS))
def test_every_board_wiring_is_what_install_writes_and_valid(wiring: dict, board: str) -> None:  # type: ignore[type-arg]
    entry = wiring["boards"][board]
    assert entry["title"] == BOARDS[board].title
    assert entry["pins"] == BOARD_PINS[board]
    for build in ("encoder", "pot"):
        settings_for(DEFAULTS | entry["pins"] | {"MICRODIAL_INPUT": build}, board)
    used = {entry["pins"].get(w["signal"], w["signal"]) for w in wiring["wires"]}
    assert used <= set(entry["pads"]), "every wired pin and rail needs its pad"


def test_encoder_steps_per_detent_matches_the_firmware(wiring: dict) -> None:  # type: ignore[type-arg]
    encoder = wiring["encoder"]
    assert encoder["steps_per_detent"] == DEFAULTS["MICRODIAL_STEPS_PER_DETENT"]
    assert encoder["steps_per_detent"] == 4 * encoder["pulses_per_rev"] // encoder["detents_per_rev"]


def test_wiring_svg_wires_land_on_the_default_pins(wiring: dict) -> None:  # type: ignore[type-arg]
    root = ET.parse(HARDWARE / "wiring.svg").getroot()
    wires = [el for el in root.iter(f"{SVG}path") if el.get("class") == "wire"]
    assert len(wires) == len(wiring["wires"])
    signals = set()
    for wire in wires:
        signal = wire.get("data-signal")
        assert signal is not None
        if signal.startswith("MICRODIAL_"):
            assert wire.get("data-pin") == DEFAULTS[signal]
            signals.add(signal)
    assert signals == {"MICRODIAL_PIN_A", "MICRODIAL_PIN_B", "MICRODIAL_PIN_BUTTON", "MICRODIAL_PIN_POT"}


def test_wiring_md_lists_the_default_pins() -> None:
    text = (HARDWARE / "wiring.md").read_text()
    for key in ("MICRODIAL_PIN_A", "MICRODIAL_PIN_B", "MICRODIAL_PIN_BUTTON", "MICRODIAL_PIN_POT"):
        assert re.search(rf"\| `{DEFAULTS[key]}` \| pin \d+ \| `{key}` \|", text), key


def _ticks(root: ET.Element, cls: str) -> list[ET.Element]:
    return [el for el in root.iter(f"{SVG}line") if el.get("class") == f"tick {cls}"]


def _labels(root: ET.Element, cls: str) -> str:
    return " ".join(el.text or "" for el in root.iter(f"{SVG}text") if el.get("class") == f"label {cls}")


def test_dial_face_labels_and_ticks(wiring: dict) -> None:  # type: ignore[type-arg]
    root = ET.parse(HARDWARE / "dial-face.svg").getroot()
    values = list(range(-50, 51))
    pot = _ticks(root, "pot")
    assert [int(el.get("data-value", "")) for el in pot] == values
    assert [int(el.get("data-value", "")) for el in _ticks(root, "scale")] == values
    assert len(_ticks(root, "detent")) == wiring["encoder"]["detents_per_rev"] == 24
    for cls in ("pot", "scale"):
        assert _labels(root, f"{cls}-min") == "Weakest possible"
        assert _labels(root, f"{cls}-mid") == "Neutral"
        assert _labels(root, f"{cls}-max") == "Strongest possible"
    assert _labels(root, "pot-number").split() == [
        "\u221250",
        "\u221240",
        "\u221230",
        "\u221220",
        "\u221210",
        "0",
    ] + [f"+{n}" for n in range(10, 51, 10)]
    assert "4.17 turns" in _labels(root, "encoder-note")

    def angle(el: ET.Element) -> float:
        x1, y1, x2, y2 = (float(el.get(k, "")) for k in ("x1", "y1", "x2", "y2"))
        return math.degrees(math.atan2(x2 - x1, -(y2 - y1)))

    # 0 points straight up; the ends are half the face angle either side.
    half = wiring["pot"]["face_deg"] / 2
    assert angle(pot[50]) == pytest.approx(0, abs=0.01)
    assert angle(pot[0]) == pytest.approx(-half, abs=0.01)
    assert angle(pot[-1]) == pytest.approx(half, abs=0.01)


def test_udev_rules_cover_both_vendors_for_serial_and_hidraw() -> None:
    rules = [
        line
        for line in (HARDWARE / "99-microdial.rules").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    pair = re.compile(r'^\s*[A-Za-z_]+(\{[A-Za-z_]+\})?\s*(==|!=|=|\+=)\s*"[^"]*"\s*$')
    found = set()
    for rule in rules:
        parts = rule.split(",")
        assert all(pair.match(part) for part in parts), rule
        vendor = re.search(r'ATTRS\{idVendor\}=="([0-9a-f]{4})"', rule)
        assert vendor is not None, rule
        kind = "hidraw" if 'SUBSYSTEM=="hidraw"' in rule else "tty" if 'SUBSYSTEM=="tty"' in rule else None
        assert kind is not None, rule
        assert 'MODE="0660"' in rule and ('GROUP="dialout"' if kind == "tty" else 'GROUP="plugdev"') in rule
        found.add((kind, vendor.group(1)))
    assert found == {(kind, vid) for kind in ("tty", "hidraw") for vid in ("2e8a", "239a")}
