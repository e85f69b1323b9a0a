"""The device clock with injected sources (the ticks source stands in for CircuitPython's
supervisor.ticks_ms, faked by microdial.sim.fakes): monotonic and unwrapped across 2**29 ms."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from microdial.sim import fakes

fakes.install()

from dialfw.clock import TICKS_MASK, TICKS_PERIOD, Clock  # noqa: E402


class Ticks:
    def __init__(self, start: int) -> None:
        self.raw = start

    def __call__(self) -> int:
        return self.raw & TICKS_MASK


def test_monotonic_ns_counts_from_the_first_reading() -> None:
    now = [5_000_000_123]
    clock = Clock(ns_source=lambda: now[0])
    assert clock.source == "monotonic_ns"
    assert clock.now_us() == 0
    now[0] += 1_234_567
    assert clock.now_us() == 1_234


def test_default_source_is_monotonic_ns_where_the_board_has_it() -> None:
    assert Clock().source == "monotonic_ns"


def test_ticks_exactly_at_and_across_the_wrap() -> None:
    ticks = Ticks(TICKS_PERIOD - 3)
    clock = Clock(ticks_source=ticks)
    assert clock.source == "ticks_ms"
    seen = []
    for _ in range(7):
        seen.append(clock.now_us())
        ticks.raw += 1
    assert seen == [0, 1_000, 2_000, 3_000, 4_000, 5_000, 6_000]
    assert ticks() == 4  # the raw count really wrapped


def test_ticks_across_several_wraps_in_large_steps() -> None:
    ticks = Ticks(TICKS_PERIOD - 65_536)
    clock = Clock(ticks_source=ticks)
    total = 0
    step = TICKS_PERIOD // 3 + 7
    for _ in range(10):
        ticks.raw += step
        total += step
        assert clock.now_us() == total * 1000


@given(st.integers(0, TICKS_MASK), st.lists(st.integers(0, TICKS_PERIOD - 1), max_size=30))
def test_ticks_extension_is_the_sum_of_steps(start: int, steps: list[int]) -> None:
    ticks = Ticks(start)
    clock = Clock(ticks_source=ticks)
    total = 0
    for step in steps:
        ticks.raw += step
        total += step
        assert clock.now_us() == total * 1000


def test_origin_in_raw_ticks() -> None:
    ticks = Ticks(TICKS_PERIOD - 10)
    clock = Clock(ticks_source=ticks, origin=TICKS_PERIOD - 1000)
    assert clock.now_us() == 990_000


def test_key_event_timestamp_across_the_wrap() -> None:
    now = [0]
    ticks = Ticks(TICKS_PERIOD - 2)
    clock = Clock(ns_source=lambda: now[0], ticks_source=ticks, origin=0)
    pressed_at = ticks()  # 2 ms before the wrap
    now[0] += 5_000_000
    ticks.raw += 5
    assert clock.from_ticks(pressed_at) == 0


def test_dial_on_ticks_clock_streams_across_the_wrap(make_dial: Any) -> None:
    dial = make_dial(ticks=True, ticks_base=TICKS_PERIOD - 100)
    assert dial.clock.source == "ticks_ms"
    dial.records()
    dial.run(400)
    times = [fields[1] for _, fields in dial.records("S")]
    assert times == [n * 20_000 for n in range(1, 21)]


def test_stamp_slightly_ahead_of_the_clock_stays_close() -> None:
    ticks = Ticks(1000)
    clock = Clock(ns_source=lambda: 50_000_000, ticks_source=ticks, origin=0)
    assert clock.from_ticks(1002) == 52_000
