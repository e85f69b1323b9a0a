"""The push button under the fake keypad of microdial.sim.fakes (a fake of CircuitPython's own
module: the test plays the debounced key scanner by queueing events with their timestamps)."""

from __future__ import annotations

from typing import Any

from microdial.sim import fakes


def press(dial: Any, down_ms: int, up_ms: int) -> None:
    keys = dial.dial.button.keys
    keys.press(timestamp=(dial.ticks_base + down_ms) & fakes.TICKS_MASK)
    keys.release(timestamp=(dial.ticks_base + up_ms) & fakes.TICKS_MASK)


def test_button_is_built_from_settings(make_dial: Any) -> None:
    dial = make_dial({"MICRODIAL_PIN_BUTTON": "GP9", "MICRODIAL_LONG_PRESS_MS": "500"})
    keys = dial.dial.button.keys
    assert keys.pins[0].name == "GP9"
    assert keys.value_when_pressed is False and keys.pull is True
    assert dial.dial.button.long_press_ms == 500


def test_short_press_is_a_mark_timed_by_the_event(dial: Any) -> None:
    dial.encoder.turn(7)
    dial.run(500)
    press(dial, 100, 300)  # the loop sees the events late; their times must not move
    dial.records()
    dial.run(1)
    assert dial.records("BTN") == [
        ("BTN", [100_000, "down"]),
        ("BTN", [300_000, "up"]),
        ("BTN", [300_000, "mark"]),
    ]
    assert dial.dial.input.value == 7


def test_long_press_marks_and_recentres(dial: Any) -> None:
    dial.encoder.turn(-12)
    dial.run(2000)
    press(dial, 1000, 1800)
    dial.records()
    dial.run(1)
    got = dial.records()
    assert got == [
        ("BTN", [1_000_000, "down"]),
        ("BTN", [1_800_000, "up"]),
        ("BTN", [1_800_000, "long"]),
        ("S", [got[3][1][0], 2_001_000, 0]),
    ]
    dial.encoder.turn(1)
    dial.run(1)
    assert dial.records("S")[0][1][2] == 1


def test_threshold_is_inclusive(dial: Any) -> None:
    dial.run(2000)
    press(dial, 100, 899)
    press(dial, 1000, 1800)
    dial.records()
    dial.run(1)
    assert [f[1] for _, f in dial.records("BTN")] == ["down", "up", "mark", "down", "up", "long"]


def test_press_across_the_ticks_wrap(make_dial: Any) -> None:
    dial = make_dial(ticks_base=fakes.TICKS_PERIOD - 500)
    dial.run(1500)
    press(dial, 400, 1300)  # down before the wrap, up after it: held 900 ms
    dial.records()
    dial.run(1)
    assert dial.records("BTN") == [
        ("BTN", [400_000, "down"]),
        ("BTN", [1_300_000, "up"]),
        ("BTN", [1_300_000, "long"]),
    ]


def test_overflowed_queue_is_reported_not_misread(dial: Any) -> None:
    keys = dial.dial.button.keys
    for n in range(40):  # more than the queue holds: the oldest are dropped
        keys.press(timestamp=n * 10)
        keys.release(timestamp=n * 10 + 5)
    assert keys.events.overflowed
    dial.records()
    dial.run(1)
    got = dial.records()
    assert [r for r in got if r[0] == "BTN"] == []
    assert [r[1][1:] for r in got if r[0] == "ERR"] == [["button", "key events overflowed"]]
    assert not keys.events.overflowed
    press(dial, 10, 20)
    dial.run(1)
    assert [f[1] for _, f in dial.records("BTN")] == ["down", "up", "mark"]
