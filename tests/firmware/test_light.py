"""The status light under the fakes of digitalio and neopixel in microdial.sim.fakes (fakes of
CircuitPython's own modules and the NeoPixel library): which pattern shows in which state."""

from __future__ import annotations

import os
from typing import Any

from dialfw import light


def pattern(dial: Any, ms: int = 2000) -> str:
    """The LED's on/off state sampled every 100 ms of device time."""
    out = []
    for _ in range(ms // 100):
        dial.run(100, every_ms=5)
        out.append("1" if dial.dial.light.driver.io.value else "0")
    return "".join(out)


def test_led_is_built_from_settings(dial: Any) -> None:
    io = dial.dial.light.driver.io
    assert io.pin.name == "LED" and io.direction == "output"


def test_streaming_is_steady(dial: Any) -> None:
    dial.run(3500)
    assert pattern(dial) == "1" * 20
    assert dial.dial.status(dial.clock.now_us()) == light.STREAMING


def test_not_connected_is_a_short_flash(dial: Any) -> None:
    os.close(dial.slave)
    dial.run(3500)
    assert pattern(dial).count("1") == 1


def test_host_not_reading_blinks_fast(dial: Any) -> None:
    dial.send("RATE", (1000,))
    dial.run(60_000, every_ms=1)  # nobody reads: the pty fills and writes start falling short
    got = pattern(dial)
    assert dial.dial.link.stalled
    assert got == "10" * 10 or got == "01" * 10


def test_error_shows_for_three_seconds(dial: Any, monkeypatch: Any) -> None:
    dial.run(3500)
    real = dial.dial.input.poll
    monkeypatch.setattr(dial.dial.input, "poll", lambda: 1 / 0)
    dial.run(5)
    monkeypatch.setattr(dial.dial.input, "poll", real)
    shown = pattern(dial, 4000)
    assert shown[:20] in ("10100000001010000000"[i:] + "10100000001010000000"[:i] for i in range(20))
    assert shown[-8:] == "1" * 8


def test_neopixel_shows_colours(make_dial: Any) -> None:
    dial = make_dial({"MICRODIAL_PIN_LIGHT": "NEOPIXEL"})
    pixel = dial.dial.light.driver.pixel
    dial.run(3500)
    assert pixel[0] == (0, 255, 0)
    os.close(dial.slave)
    seen = set()
    for _ in range(40):
        dial.run(100)
        seen.add(pixel[0])
    assert seen == {(0, 0, 255), (0, 0, 0)}


def test_missing_light_pin_is_reported_and_the_dial_runs(make_dial: Any) -> None:
    dial = make_dial({"MICRODIAL_PIN_LIGHT": "D13"})
    assert dial.dial.light is None
    errs = dial.records("ERR")
    assert errs[0][1][1:] == [
        "settings",
        "MICRODIAL_PIN_LIGHT=D13: no such pin on this board; no status light",
    ]
    dial.encoder.turn(2)
    dial.run(1)
    assert dial.records("S")[-1][1][2] == 2
