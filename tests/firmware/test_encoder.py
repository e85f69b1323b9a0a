"""Encoder input under the fakes of CircuitPython's rotaryio (microdial.sim.fakes): no hardware here."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from microdial.sim import fakes

fakes.install()

from dialfw.encoder import EncoderInput, clamp  # noqa: E402


def values_sent(dial: Any) -> list[int]:
    return [fields[2] for _, fields in dial.records("S")]


def test_both_directions_one_sample_per_change(dial: Any) -> None:
    dial.records()
    for _ in range(3):
        dial.encoder.turn(1)
        dial.run(2)
    for _ in range(5):
        dial.encoder.turn(-1)
        dial.run(2)
    assert values_sent(dial) == [1, 2, 3, 2, 1, 0, -1, -2]


def test_fast_spin_between_polls_is_one_jump(dial: Any) -> None:
    dial.records()
    dial.encoder.turn(37)
    dial.run(1)
    assert values_sent(dial) == [37]


def test_partial_detent_does_not_count(dial: Any) -> None:
    dial.records()
    dial.encoder.step(3)
    dial.run(2)
    assert values_sent(dial) == []
    dial.encoder.step(1)
    dial.run(2)
    assert values_sent(dial) == [1]


def test_clamps_at_top_with_no_dead_zone(dial: Any) -> None:
    dial.encoder.turn(80)
    dial.run(1)
    assert dial.dial.input.value == 50
    dial.encoder.turn(5)
    dial.run(1)
    dial.records()
    dial.encoder.turn(-1)
    dial.run(1)
    assert values_sent(dial) == [49]
    # The raw count is never clamped or written back.
    assert dial.encoder.position == 84


def test_clamps_at_bottom_with_no_dead_zone(dial: Any) -> None:
    dial.encoder.turn(-70)
    dial.run(1)
    dial.encoder.turn(-3)
    dial.run(1)
    assert dial.dial.input.value == -50
    dial.records()
    dial.encoder.turn(1)
    dial.run(1)
    assert values_sent(dial) == [-49]


def test_reversed_direction(make_dial: Any) -> None:
    dial = make_dial({"MICRODIAL_DIRECTION": "-1"})
    dial.records()
    dial.encoder.turn(2)
    dial.run(1)
    assert values_sent(dial) == [-2]


@given(st.lists(st.integers(min_value=-120, max_value=120), max_size=40))
def test_value_is_the_clamped_sum_of_deltas(turns: list[int]) -> None:
    inp = EncoderInput(fakes.Pin("GP2"), fakes.Pin("GP3"), 4, 1)
    expected = 0
    for detents in turns:
        inp.encoder.turn(detents)
        changed = inp.poll()
        new = clamp(expected + detents)
        assert changed == (new != expected)
        expected = new
        assert inp.value == expected
        assert -50 <= inp.value <= 50


@given(st.integers(min_value=1, max_value=200), st.integers(min_value=1, max_value=50))
def test_first_step_back_from_any_overshoot_moves(overshoot: int, back: int) -> None:
    inp = EncoderInput(fakes.Pin("GP2"), fakes.Pin("GP3"), 4, 1)
    inp.encoder.turn(50 + overshoot)
    inp.poll()
    inp.encoder.turn(-back)
    inp.poll()
    assert inp.value == 50 - back
