"""The free-running session clock, with an injected clock instead of real time."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from microdial.players.freerun import FreeRunClock
from microdial.players.mpv import MpvClock


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_start_pause_resume_stop() -> None:
    now = FakeTime()
    clock = FreeRunClock(now)
    assert clock.stamp(now.now).playback == "no-player"
    waiting = clock.changed
    clock.start()
    assert waiting.is_set() and not clock.changed.is_set()
    first = clock.stamp(now.now)
    assert (first.media_time, first.playback, first.player, first.discontinuity) == (
        0.0,
        "playing",
        "free",
        True,
    )
    now.now += 2.5
    later = clock.stamp(now.now)
    assert later.media_time == 2.5 and not later.discontinuity
    clock.pause()
    now.now += 10
    paused = clock.stamp(now.now)
    assert (paused.media_time, paused.playback) == (2.5, "paused")
    clock.resume()
    now.now += 1
    assert clock.stamp(now.now).media_time == 3.5
    # A stamp may ask about an instant just before the latest change: it interpolates from the anchor.
    assert clock.stamp(now.now - 0.5).media_time == 3.0
    clock.stop()
    assert clock.stamp(now.now).media_time is None
    assert clock.stamp(now.now).playback == "no-player"


def test_mark_button_toggles() -> None:
    now = FakeTime()
    clock = FreeRunClock(now)
    clock.ready()
    assert clock.stamp(now.now).playback == "paused"
    clock.on_button("mark")
    now.now += 4
    assert clock.stamp(now.now).media_time == 4.0
    clock.on_button("press")
    clock.on_button("mark")
    now.now += 4
    assert clock.stamp(now.now).media_time == 4.0
    assert clock.stamp(now.now).playback == "paused"


def test_session_commands_start_and_stop_it() -> None:
    now = FakeTime()
    clock = FreeRunClock(now)
    clock.ready()
    clock.on_session("mark")  # a mark in the session's log moves nothing
    now.now += 3
    assert clock.stamp(now.now).playback == "paused"
    clock.on_session("start")
    now.now += 2
    assert (clock.stamp(now.now).media_time, clock.stamp(now.now).playback) == (2.0, "playing")
    clock.on_session("stop")
    assert clock.stamp(now.now).playback == "no-player"


def test_a_followed_player_ignores_the_hooks() -> None:
    # The hooks are the PlayerClock interface's: a clock that follows a player does nothing on them.
    clock = MpvClock(Path("/nonexistent.sock"))
    clock.on_button("mark")
    clock.on_session("start")
    assert clock.stamp(0.0).playback == "no-player"


async def test_run_waits_ready_at_zero() -> None:
    now = FakeTime()
    clock = FreeRunClock(now)
    task = asyncio.create_task(clock.run())
    await asyncio.sleep(0)
    stamp = clock.stamp(now.now)
    assert (stamp.media_time, stamp.playback) == (0.0, "paused")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
