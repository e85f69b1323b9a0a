"""Regenerate hardware/wiring.md, wiring.svg and dial-face.svg from hardware/wiring.toml.

    python hardware/make_drawings.py           # write the three files
    python hardware/make_drawings.py --check   # exit 1 if a committed file is out of date

Only the standard library, so it runs anywhere Python 3.11 does. The SVGs carry data-*
attributes (pin, signal, value) so tests can check them against the firmware defaults.
"""

from __future__ import annotations

import argparse
import math
import sys
import tomllib
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
FONT = 'font-family="DejaVu Sans, Arial, Helvetica, sans-serif"'
MINUS = "\u2212"
COLOURS = {
    "MICRODIAL_PIN_A": "#d4a000",
    "MICRODIAL_PIN_B": "#1f6fd1",
    "MICRODIAL_PIN_BUTTON": "#2e9a3a",
    "MICRODIAL_PIN_POT": "#e07000",
    "GND": "#222222",
    "AGND": "#555555",
    "3V3": "#d02020",
}


def load(path: Path = HERE / "wiring.toml") -> dict[str, Any]:
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def signed(value: int) -> str:
    return f"{MINUS}{-value}" if value < 0 else (f"+{value}" if value > 0 else "0")


def board_pin(board: dict[str, Any], signal: str) -> str:
    """The board pin name a wire's signal lands on (a rail keeps its own name)."""
    return str(board["pins"].get(signal, signal))


def encoder_mapping(wiring: dict[str, Any]) -> dict[str, float]:
    encoder, scale = wiring["encoder"], wiring["scale"]
    steps = scale["max"] - scale["min"]
    points_per_turn = 4 * encoder["pulses_per_rev"] / encoder["steps_per_detent"]
    return {
        "points_per_detent": points_per_turn / encoder["detents_per_rev"],
        "points_per_turn": points_per_turn,
        "turns_full_scale": steps / points_per_turn,
    }


# --- wiring.md ----------------------------------------------------------------------------------


def wiring_md(wiring: dict[str, Any]) -> str:
    scale, encoder, pot = wiring["scale"], wiring["encoder"], wiring["pot"]
    mapping = encoder_mapping(wiring)
    out = [
        "# microdial wiring",
        "",
        "Generated from `wiring.toml` by `python hardware/make_drawings.py`; edit that file, not this one.",
        "Pin names are CircuitPython board pin names, as `settings.toml` takes them. The Pico column",
        "is the firmware default; for the other boards `microdial firmware install` writes these pins.",
        "Inputs use the RP2040's internal pull-ups, so no resistors are needed.",
        "",
    ]
    for name, board in wiring["boards"].items():
        out += [f"## {board['title']} (`--board {name}`)", ""]
        for build in ("encoder", "pot"):
            out += [
                f"**{'Encoder' if build == 'encoder' else 'Potentiometer'} build**",
                "",
                "| part | part pin | board pin | pad | setting |",
                "|---|---|---|---|---|",
            ]
            for wire in wiring["wires"]:
                if wire["build"] != build:
                    continue
                pin = board_pin(board, wire["signal"])
                setting = f"`{wire['signal']}`" if wire["signal"].startswith("MICRODIAL_") else "—"
                out.append(
                    f"| {wire['part']} | {wire['part_pin']} | `{pin}` | {board['pads'][pin]} | {setting} |"
                )
            out.append("")
        out += [f"Status light: `{board['pins']['MICRODIAL_PIN_LIGHT']}`, {board['light']}.", ""]
    out += [
        "## Scale mapping",
        "",
        f"- Values run from {signed(scale['min'])} ({scale['min_label']}) through 0 ({scale['mid_label']}) "
        f"to {signed(scale['max'])} ({scale['max_label']}): {scale['max'] - scale['min'] + 1} values.",
        f"- Encoder ({encoder['part']}): {encoder['detents_per_rev']} detents and "
        f"{encoder['pulses_per_rev']} pulses per turn; with `MICRODIAL_STEPS_PER_DETENT = "
        f"{encoder['steps_per_detent']}` one click is {mapping['points_per_detent']:g} point, "
        f"{mapping['points_per_turn']:g} points per turn, so the full scale takes "
        f"{mapping['turns_full_scale']:.2f} turns. The value stops at the ends (turning further does "
        "nothing, and turning back moves at once); a long press recentres to 0.",
        f"- Potentiometer ({pot['part']}): absolute; the dial face spans {pot['face_deg']}°, "
        f"{pot['face_deg'] / (scale['max'] - scale['min']):g}° per point.",
        "",
    ]
    return "\n".join(out)


# --- wiring.svg ---------------------------------------------------------------------------------


def _text(x: float, y: float, text: str, size: float, anchor: str = "start", weight: str = "normal") -> str:
    return (
        f'<text x="{x:.2f}" y="{y:.2f}" font-size="{size}" text-anchor="{anchor}" '
        f'font-weight="{weight}" {FONT}>{escape(text)}</text>'
    )


def _panel(wiring: dict[str, Any], board: dict[str, Any], build: str, top: float) -> list[str]:
    wires = [wire for wire in wiring["wires"] if wire["build"] == build]
    pads: list[str] = []
    for wire in wires:
        pin = board_pin(board, wire["signal"])
        if pin not in pads:
            pads.append(pin)
    title = "Encoder build" if build == "encoder" else "Potentiometer build"
    out = [_text(40, top + 22, title, 18, weight="bold")]
    pitch = 34
    board_top, part_top = top + 50, top + 50
    board_h = pitch * len(pads) + 20
    out.append(
        f'<rect x="40" y="{board_top}" width="230" height="{board_h}" rx="8" fill="#1d6b3a" stroke="#0d3b1e"/>'
    )
    out.append(
        _text(60, board_top + board_h / 2 + 6, board["title"], 15, weight="bold").replace(
            "<text", '<text fill="#ffffff"'
        )
    )
    pad_y = {pin: board_top + 20 + pitch * i for i, pin in enumerate(pads)}
    for pin, y in pad_y.items():
        out.append(f'<circle cx="270" cy="{y}" r="5" fill="#e8c060" stroke="#6b5000"/>')
        out.append(_text(282, y - 8, f"{pin} ({board['pads'][pin]})", 12))
    parts: list[str] = []
    for wire in wires:
        if wire["part"] not in parts:
            parts.append(wire["part"])
    y = part_top
    part_y: dict[tuple[str, str], float] = {}
    for part in parts:
        pins = [wire["part_pin"] for wire in wires if wire["part"] == part]
        height = pitch * len(pins) + 16
        out.append(
            f'<rect x="700" y="{y}" width="170" height="{height}" rx="6" fill="#f2f2f2" stroke="#444"/>'
        )
        out.append(_text(785, y + height / 2 + 5, part, 13, anchor="middle", weight="bold"))
        for i, pin in enumerate(pins):
            py = y + 16 + pitch * i + 4
            part_y[(part, pin)] = py
            out.append(f'<circle cx="700" cy="{py}" r="5" fill="#cccccc" stroke="#444"/>')
            out.append(_text(692, py - 8, pin, 12, anchor="end"))
        y += height + 14
    for i, wire in enumerate(wires):
        pin = board_pin(board, wire["signal"])
        x_mid = 520 + 16 * i
        y1, y2 = pad_y[pin], part_y[(wire["part"], wire["part_pin"])]
        colour = COLOURS[wire["signal"]]
        out.append(
            f'<path class="wire" data-build="{build}" data-signal="{wire["signal"]}" data-pin="{pin}" '
            f'data-part="{escape(wire["part"])}" data-part-pin="{escape(wire["part_pin"])}" '
            f'd="M 275 {y1} H {x_mid} V {y2} H 695" fill="none" stroke="{colour}" stroke-width="3" '
            'stroke-linejoin="round"/>'
        )
    return out


def wiring_svg(wiring: dict[str, Any], board_name: str = "pico") -> str:
    board = wiring["boards"][board_name]
    width, height = 920, 720
    body = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" data-board="{board_name}">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        _text(40, 34, f"microdial wiring: {board['title']} (firmware default pins)", 20, weight="bold"),
    ]
    body += _panel(wiring, board, "encoder", 50)
    body += _panel(wiring, board, "pot", 360)
    body.append(
        _text(
            40,
            height - 20,
            f"Status light: {board['pins']['MICRODIAL_PIN_LIGHT']}, {board['light']}. "
            "Other boards: see wiring.md. Generated from wiring.toml.",
            12,
        )
    )
    body.append("</svg>")
    return "\n".join(body) + "\n"


# --- dial-face.svg ------------------------------------------------------------------------------


def _polar(cx: float, cy: float, radius: float, degrees: float) -> tuple[float, float]:
    """Point at `degrees` clockwise from twelve o'clock."""
    rad = math.radians(degrees)
    return cx + radius * math.sin(rad), cy - radius * math.cos(rad)


def _tick(cls: str, cx: float, cy: float, r1: float, r2: float, degrees: float, value: int | None) -> str:
    x1, y1 = _polar(cx, cy, r1, degrees)
    x2, y2 = _polar(cx, cy, r2, degrees)
    data = f' data-value="{value}"' if value is not None else ""
    width = 0.5 if r2 - r1 > 3 else 0.3
    return (
        f'<line class="tick {cls}"{data} x1="{x1:.2f}" y1="{y1:.2f}" x2="{x2:.2f}" y2="{y2:.2f}" '
        f'stroke="#000" stroke-width="{width}"/>'
    )


def _label(cls: str, x: float, y: float, text: str, size: float, anchor: str = "middle") -> str:
    return _text(x, y, text, size, anchor).replace("<text", f'<text class="label {cls}"', 1)


def _pot_face(wiring: dict[str, Any], cx: float, cy: float) -> list[str]:
    scale, face = wiring["scale"], wiring["pot"]["face_deg"]
    lo, hi = scale["min"], scale["max"]
    out = [
        _text(cx, cy - 52, "Potentiometer build", 5, "middle", "bold"),
        f'<circle cx="{cx}" cy="{cy}" r="42" fill="none" stroke="#999" stroke-width="0.3" stroke-dasharray="2 1"/>',
        f'<circle cx="{cx}" cy="{cy}" r="3.75" fill="none" stroke="#999" stroke-width="0.3" stroke-dasharray="1 0.6"/>',
    ]
    for value in range(lo, hi + 1):
        degrees = (value - (lo + hi) / 2) / (hi - lo) * face
        length = 6 if value % 10 == 0 else (4.5 if value % 5 == 0 else 3)
        out.append(_tick("pot", cx, cy, 38 - length, 38, degrees, value))
        if value % 10 == 0:
            x, y = _polar(cx, cy, 28, degrees)
            out.append(_label("pot-number", x, y + 1.2, signed(value), 3.2))
    # The end labels sit inside the cut circle, in the gap below the arc, two lines each.
    out.append(_label("pot-mid", cx, cy - 18, scale["mid_label"], 3.8))
    for side, key, text in ((-1, "min", scale["min_label"]), (1, "max", scale["max_label"])):
        first, _, rest = text.partition(" ")
        out.append(_label(f"pot-{key}", cx + 17 * side, cy + 29, first, 3.6))
        if rest:
            out.append(_label(f"pot-{key}", cx + 17 * side, cy + 33.5, rest, 3.6))
    return out


def _encoder_face(wiring: dict[str, Any], cx: float, cy: float) -> list[str]:
    encoder = wiring["encoder"]
    detents = encoder["detents_per_rev"]
    mapping = encoder_mapping(wiring)
    out = [
        _text(cx, cy - 52, "Encoder build", 5, "middle", "bold"),
        f'<circle cx="{cx}" cy="{cy}" r="42" fill="none" stroke="#999" stroke-width="0.3" stroke-dasharray="2 1"/>',
        f'<circle cx="{cx}" cy="{cy}" r="3.75" fill="none" stroke="#999" stroke-width="0.3" stroke-dasharray="1 0.6"/>',
        f'<circle cx="{cx}" cy="{cy}" r="38" fill="none" stroke="#000" stroke-width="0.4"/>',
    ]
    out += [_tick("detent", cx, cy, 33, 38, 360 / detents * i, None) for i in range(detents)]
    # Between the knob (about 25 mm across) and the detent ring.
    out.append(_label("encoder-weaker", cx - 23, cy + 1.2, "\u21ba weaker", 3.2))
    out.append(_label("encoder-stronger", cx + 23, cy + 1.2, "stronger \u21bb", 3.2))
    lines = [
        f"1 click = {mapping['points_per_detent']:g} point \u00b7 {detents} clicks per turn",
        f"{signed(wiring['scale']['min'])} to {signed(wiring['scale']['max'])}: "
        f"{mapping['turns_full_scale']:.2f} turns; stops at the ends",
        "press: mark the moment \u00b7 hold: back to 0 (Neutral)",
    ]
    out += [_label("encoder-note", cx, cy + 49 + 5 * i, line, 3.4) for i, line in enumerate(lines)]
    return out


def _scale_bar(wiring: dict[str, Any], left: float, right: float, y: float) -> list[str]:
    scale = wiring["scale"]
    lo, hi = scale["min"], scale["max"]
    out = [
        _text(
            (left + right) / 2,
            y - 12,
            "Rating scale (for the encoder build: place near the screen)",
            4,
            "middle",
            "bold",
        )
    ]
    out.append(f'<line x1="{left}" y1="{y}" x2="{right}" y2="{y}" stroke="#000" stroke-width="0.4"/>')
    for value in range(lo, hi + 1):
        x = left + (value - lo) / (hi - lo) * (right - left)
        length = 6 if value % 10 == 0 else (4 if value % 5 == 0 else 2.5)
        out.append(
            f'<line class="tick scale" data-value="{value}" x1="{x:.2f}" y1="{y}" x2="{x:.2f}" '
            f'y2="{y + length}" stroke="#000" stroke-width="{0.45 if value % 10 == 0 else 0.25}"/>'
        )
        if value % 10 == 0:
            out.append(_label("scale-number", x, y + 10, signed(value), 3.2))
    out.append(_label("scale-min", left, y + 16, scale["min_label"], 3.8, "start"))
    out.append(_label("scale-mid", (left + right) / 2, y + 16, scale["mid_label"], 3.8))
    out.append(_label("scale-max", right, y + 16, scale["max_label"], 3.8, "end"))
    return out


def dial_face_svg(wiring: dict[str, Any]) -> str:
    body = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" viewBox="0 0 210 297">',
        '<rect width="210" height="297" fill="#ffffff"/>',
        _text(105, 12, "microdial dial faces", 6, "middle", "bold"),
        _text(
            105,
            18,
            "Print at 100 % on A4; the bar below must measure 50 mm. Cut along the dashed circles.",
            3,
            "middle",
        ),
        '<line class="calibration" x1="80" y1="22" x2="130" y2="22" stroke="#000" stroke-width="0.6"/>',
        '<line x1="80" y1="20.5" x2="80" y2="23.5" stroke="#000" stroke-width="0.4"/>',
        '<line x1="130" y1="20.5" x2="130" y2="23.5" stroke="#000" stroke-width="0.4"/>',
    ]
    body += _pot_face(wiring, 105, 85)
    body += _encoder_face(wiring, 105, 190)
    body += _scale_bar(wiring, 20, 190, 272)
    body.append("</svg>")
    return "\n".join(body) + "\n"


def outputs(wiring: dict[str, Any]) -> dict[str, str]:
    return {
        "wiring.md": wiring_md(wiring),
        "wiring.svg": wiring_svg(wiring),
        "dial-face.svg": dial_face_svg(wiring),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, text in outputs(load()).items():
        path = HERE / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python hardware/make_drawings.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
