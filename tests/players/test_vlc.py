"""VLC followed over its real HTTP interface: play, pause, seek, 2x speed, quit and restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from microdial.players import open_player
from microdial.players.vlc import Duration, VlcClock
from tests.players.support import (
    VLC_SETTLE,
    Stamps,
    VlcProcess,
    assert_pauses_stand,
    assert_vlc_in_step,
)


@pytest.fixture
async def vlc(video: Path) -> AsyncIterator[VlcProcess]:
    player = VlcProcess(video)
    await player.start()
    yield player
    await player.stop()


def test_spec_with_password() -> None:
    clock = open_player("vlc:http://:pw@127.0.0.1:9090")
    assert isinstance(clock, VlcClock)
    assert (clock.url, clock.password) == ("http://127.0.0.1:9090", "pw")
    clock = open_player("vlc:http://127.0.0.1:9090", vlc_password="other")
    assert isinstance(clock, VlcClock) and clock.password == "other"


def test_duration_from_floored_values() -> None:
    duration = Duration(20)
    assert duration.value == 20
    # Polls just after and just before `time` ticks over bracket the real 20.4 s.
    duration.update(10, 10.001 / 20.4)
    duration.update(10, 10.999 / 20.4)
    duration.update(11, 10.5 / 20.4)  # read across an update: inconsistent, ignored
    assert abs(duration.value - 20.4) < 0.05


def test_file_still_opening_is_no_position() -> None:
    # What VLC's status.json said right after a restart while it opened the file (seen in a CI
    # run): playing, length and time -1. That length once stuck as the duration, so every stamp
    # afterwards was capped at -1 s.
    clock = VlcClock(now=lambda: 0.0)
    # VLC's answers while it opens a file, fed to the clock as its poll would (no VLC reports -1 on cue).
    clock._on_online()  # noqa: SLF001
    meta = {"category": {"meta": {"filename": "test-25fps.mp4"}}}
    opening = {"state": "playing", "position": 0.0, "length": -1, "time": -1, "rate": 1, "information": meta}
    clock._status(opening, 1.0)  # noqa: SLF001
    assert clock.stamp(1.0).playback == "no-player"
    clock._status({**opening, "position": 0.05, "length": 20, "time": 1}, 1.1)  # noqa: SLF001
    stamp = clock.stamp(1.1)
    assert stamp.media_duration == 20 and stamp.media_time == pytest.approx(1.0)


async def test_wrong_password_is_no_player(vlc: VlcProcess) -> None:
    clock = VlcClock(vlc.url, "wrong")
    task = asyncio.create_task(clock.run())
    try:
        await asyncio.sleep(0.5)
        assert clock.stamp(0).playback == "no-player" and clock.queries == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_follows_vlc(vlc: VlcProcess, video: Path) -> None:
    clock = VlcClock(vlc.url, vlc.password)
    stamps = Stamps(clock)
    task = asyncio.create_task(clock.run())
    try:
        # VLC's own start-up is slow on a busy machine: the first wait is on the player, not the clock.
        first = await stamps.until(
            lambda s: s.playback == "playing" and s.media_time > 1, "playing", timeout=40
        )
        assert first.media == video.name and first.player == "vlc"
        assert first.media_duration is not None and 20 <= first.media_duration <= 21
        assert stamps.flagged_since_mark()
        await asyncio.sleep(VLC_SETTLE)
        await assert_vlc_in_step(clock, vlc)

        stamps.mark()
        await vlc.command("pl_forcepause")
        await stamps.until(lambda s: s.playback == "paused", "paused")
        # Not against VLC's own paused position, which is stale (test_a_pause_stands_where_vlc_stopped).
        held = stamps.now().media_time
        await asyncio.sleep(0.3)  # real time passes in the real player; the paused position must not
        assert abs(stamps.now().media_time - held) < 0.05

        await vlc.command("seek", "12")
        await stamps.until(lambda s: abs(s.media_time - 12) < 0.1, "seek")
        assert stamps.flagged_since_mark() and stamps.causes_since_mark() == ["seek"]
        await vlc.command("pl_forceresume")
        await stamps.until(lambda s: s.playback == "playing", "playing again")
        await asyncio.sleep(VLC_SETTLE)
        await assert_vlc_in_step(clock, vlc)

        stamps.mark()
        await vlc.command("rate", "2")
        await stamps.until(lambda s: clock.rate == 2.0, "2x")
        assert stamps.flagged_since_mark() and stamps.causes_since_mark()[0] == "speed"
        await asyncio.sleep(VLC_SETTLE)
        start = await assert_vlc_in_step(clock, vlc)
        await asyncio.sleep(0.5)
        end = await assert_vlc_in_step(clock, vlc)
        assert end - start > 0.6

        await vlc.stop()
        gone = await stamps.until(lambda s: s.playback == "no-player", "no-player")
        assert gone.media_time is None
        stamps.mark()
        await vlc.start()
        await stamps.until(lambda s: s.playback == "playing" and s.media_time > 0.5, "reconnect")
        assert stamps.flagged_since_mark()
        await asyncio.sleep(VLC_SETTLE)
        await assert_vlc_in_step(clock, vlc)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_pause_stands_where_vlc_stopped(vlc: VlcProcess) -> None:
    """VLC leaves status.json's position where its last refresh put it when it pauses (up to ~0.4 s
    behind the frame on screen, for the whole pause); the clock pauses where playback was, and
    resuming is no discontinuity."""
    clock = VlcClock(vlc.url, vlc.password)
    stamps = Stamps(clock)
    task = asyncio.create_task(clock.run())
    try:
        await stamps.until(lambda s: s.playback == "playing" and s.media_time > 1, "playing", timeout=40)
        await asyncio.sleep(VLC_SETTLE)
        await assert_pauses_stand(
            stamps, vlc, lambda: vlc.command("pl_forcepause"), lambda: vlc.command("pl_forceresume")
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
