"""Potentiometer input under the fake analogio of microdial.sim.fakes (a fake of CircuitPython's
own module: the test sets the 16-bit reading, with noise from a seeded generator)."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from microdial.sim import fakes

fakes.install()

from dialfw.pot import FULL, MARGIN, PotInput  # noqa: E402


def settle(pot: PotInput, reading: int, polls: int = 200) -> int:
    pot.adc.value = reading
    for _ in range(polls):
        pot.poll()
    return pot.value


def make(direction: int = 1, start: int = 32768) -> PotInput:
    pot = PotInput(fakes.Pin("GP26"), direction)
    settle(pot, start)
    return pot


def test_full_travel_maps_to_both_ends_and_centre() -> None:
    pot = make()
    assert settle(pot, 0) == -50
    assert settle(pot, MARGIN) == -50
    assert settle(pot, FULL // 2) == 0
    assert settle(pot, FULL - MARGIN) == 50
    assert settle(pot, FULL) == 50


def test_sweep_reaches_every_value_in_order() -> None:
    pot = make(start=0)
    seen = [settle(pot, reading, polls=20) for reading in range(0, FULL + 1, 64)]
    assert sorted(set(seen)) == list(range(-50, 51))
    assert seen == sorted(seen)


def test_reversed_direction() -> None:
    assert settle(make(direction=-1), 0) == 50


def test_resting_hand_with_adc_noise_does_not_flicker() -> None:
    pot = make()
    # Park the knob right on the boundary between two values, with noise of +-200 counts.
    step = (FULL - 2 * MARGIN) / 100
    boundary = int(MARGIN + step * 60.5)
    noise = random.Random(3)
    pot.adc.value = boundary
    for _ in range(500):
        pot.poll()
    changes = 0
    for _ in range(5000):
        pot.adc.value = boundary + noise.randint(-200, 200)
        changes += pot.poll()
    assert changes == 0
    assert pot.value in (10, 11)


@given(st.integers(0, FULL))
def test_settled_value_is_the_nearest_step(reading: int) -> None:
    pot = make(start=reading)
    settle(pot, reading, polls=300)
    clipped = min(max(reading, MARGIN), FULL - MARGIN)
    exact = (clipped - MARGIN) * 100 / (FULL - 2 * MARGIN) - 50
    assert abs(pot.value - exact) <= 0.76
    assert -50 <= pot.value <= 50


def test_dial_streams_the_pot_and_refuses_zero(make_dial: Any) -> None:
    dial = make_dial({"MICRODIAL_INPUT": "pot", "MICRODIAL_PIN_POT": "GP27"})
    inp = dial.dial.input
    assert inp.adc.pin.name == "GP27"
    ident = dial.records("ID")[0][1]
    assert ident[3:7] == ["pot", 50, 0, 0]
    inp.adc.value = FULL
    dial.run(100)
    assert dial.records("S")[-1][1][2] == 50
    dial.send("ZERO")
    dial.run(1)
    assert dial.records("ACK") == [("ACK", ["ZERO", "err", "absolute input"])]
    assert inp.value == 50
