"""The periodic sample rate the dial achieves, with the loop modelled as on the board: each clock
read costs device time (the firmware's own work) and the loop sleeps what step() asks, rounded
to whole milliseconds as CircuitPython's time.sleep does. The clock is the test's: no real sleeps."""

from __future__ import annotations

from typing import Any

import pytest

from dialfw.app import MAX_BACKLOG

# About what one pass of the loop costs on an RP2040: two clock reads of ~150 µs of work each.
READ_COST_US = 150


def board_sleep_ms(seconds: float) -> int:
    """CircuitPython's time.sleep: whole milliseconds, rounded."""
    return int(seconds * 1000 + 0.5)


def run_board_loop(dial: Any, seconds: float) -> list[int]:
    """Loop for `seconds` of device time; the t of every sample sent."""
    times: list[int] = []
    end = dial.now_ns + int(seconds * 1e9)
    passes = 0
    while dial.now_ns < end:
        dial.advance(board_sleep_ms(dial.dial.step()))
        passes += 1
        if passes % 16 == 0:  # keep the pty drained, as a reading host does
            times += [fields[1] for _, fields in dial.records("S")]
    return times + [fields[1] for _, fields in dial.records("S")]


@pytest.mark.parametrize("rate_hz", [1000, 500, 333, 50])
def test_the_periodic_rate_is_the_rate_asked_for(make_dial: Any, rate_hz: int) -> None:
    dial = make_dial(env={"MICRODIAL_RATE_HZ": str(rate_hz)}, read_cost_us=READ_COST_US)
    dial.records()
    times = run_board_loop(dial, 2.0)
    # Schedules from planned times: over 2 s the count is exact to a sample or two, not ~12 % short.
    assert abs(len(times) - 2 * rate_hz) <= 2, len(times) / 2
    # And no sample is more than a period late against the grid it keeps to.
    period = 1_000_000 // rate_hz
    first = times[0]
    assert all(t - (first + i * period) < period for i, t in enumerate(times))


def test_a_stall_is_caught_up_without_a_burst(make_dial: Any) -> None:
    dial = make_dial(env={"MICRODIAL_RATE_HZ": "1000"}, read_cost_us=READ_COST_US)
    run_board_loop(dial, 0.1)
    dial.advance(50)  # the loop stood still for 50 ms (a long write, garbage collection)
    stall_end = dial.now_ns // 1000
    after = run_board_loop(dial, 0.2)
    # One sample per pass: never two at the same time, however far behind the schedule was.
    assert len(set(after)) == len(after)
    # The missed slots beyond MAX_BACKLOG are skipped: the first 10 ms after the stall carry at
    # most the backlog on top of the rate, and the rate then holds.
    soon = [t for t in after if t < stall_end + 10_000]
    assert len(soon) <= 10 + MAX_BACKLOG + 1
    later = [t for t in after if t >= stall_end + 10_000]
    assert abs(len(later) - 190) <= 2
