"""mpv followed over its real IPC socket: play, pause, seek, 2x speed, quit and restart."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from microdial.model import batch_json, parse_samples
from microdial.players.mpv import MpvClock
from microdial.store.reader import read_events
from microdial.store.writer import SessionRecord
from tests.host.support import wait_for
from tests.players.support import MpvProcess, Stamps, make_video
from tests.players.test_daemon_stamping import stamped_dial

TOLERANCE = 0.1
# Stamps while playing come in host order; a report arriving a few ms late must not pull them back.
STEP_BACK = 0.01


@pytest.fixture
async def mpv(video: Path, tmp_path: Path) -> AsyncIterator[MpvProcess]:
    player = MpvProcess(video, tmp_path / "mpv.sock")
    await player.start()
    yield player
    await player.stop()


async def assert_in_step(clock: MpvClock, player: MpvProcess, prop: str = "audio-pts") -> float:
    instant, own = await player.position(prop)
    stamped = clock.stamp(instant).media_time
    assert stamped is not None
    assert abs(stamped - own) < TOLERANCE, (stamped, own)
    return own


async def test_follows_mpv(mpv: MpvProcess, video: Path) -> None:
    clock = MpvClock(mpv.socket_path)
    stamps = Stamps(clock)
    task = asyncio.create_task(clock.run())
    try:
        # mpv reports its properties one by one after connecting: the duration can come after
        # the first position (seen once in a full run).
        first = await stamps.until(
            lambda s: s.playback == "playing" and s.media_duration is not None, "playing, duration known"
        )
        assert first.media == str(video) and first.player == "mpv"
        assert first.media_duration is not None and abs(first.media_duration - 20) < 0.2
        assert stamps.flagged_since_mark() and stamps.causes_since_mark()[0] == "resync"
        await stamps.until(lambda s: s.media_time > 0.5, "0.5 s played")
        await assert_in_step(clock, mpv)

        stamps.mark()
        await mpv.command("set_property", "pause", True)
        await stamps.until(lambda s: s.playback == "paused", "paused")
        held = await assert_in_step(clock, mpv, "time-pos")
        await asyncio.sleep(0.3)  # real time passes in the real player; the paused position must not
        assert abs(stamps.now().media_time - held) < 0.05
        assert not stamps.flagged_since_mark()

        await mpv.command("seek", 12, "absolute")
        await stamps.until(lambda s: s.playback == "paused" and abs(s.media_time - 12) < 0.1, "seek")
        assert stamps.flagged_since_mark() and stamps.causes_since_mark() == ["seek"]
        await mpv.command("set_property", "pause", False)
        await stamps.until(lambda s: s.playback == "playing", "playing again")
        await asyncio.sleep(0.2)
        await assert_in_step(clock, mpv)

        stamps.mark()
        await mpv.command("set_property", "speed", 2.0)
        await stamps.until(lambda s: clock.rate == 2.0, "2x")
        assert stamps.flagged_since_mark() and stamps.causes_since_mark() == ["speed"]
        # mpv re-creates its audio chain on a speed change; its own audio-pts settles within ~0.3 s.
        await asyncio.sleep(0.5)
        start = await assert_in_step(clock, mpv)
        await asyncio.sleep(0.5)
        end = await assert_in_step(clock, mpv)
        assert end - start > 0.8

        await mpv.stop()
        gone = await stamps.until(lambda s: s.playback == "no-player", "no-player")
        assert gone.media_time is None
        stamps.mark()
        await mpv.start("--start=5")
        await stamps.until(lambda s: s.playback == "playing", "reconnect")
        assert stamps.flagged_since_mark() and stamps.causes_since_mark()[0] == "resync"
        await asyncio.sleep(0.2)
        await assert_in_step(clock, mpv)
        assert clock.queries > 0 and clock.reports > 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_file_without_audio_follows_time_pos(media_folder: Path, tmp_path: Path) -> None:
    player = MpvProcess(make_video(media_folder, seconds=5, audio=False), tmp_path / "silent.sock")
    await player.start()
    clock = MpvClock(player.socket_path)
    stamps = Stamps(clock)
    task = asyncio.create_task(clock.run())
    try:
        await stamps.until(lambda s: s.playback == "playing" and s.media_time > 0.5, "playing")
        await assert_in_step(clock, player, "time-pos")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await player.stop()


async def test_a_speed_change_is_followed_not_extrapolated(mpv: MpvProcess) -> None:
    """mpv stops for ~0.2 s after a speed change while it rebuilds its audio chain (time-pos, the
    frame handed to the video output, stands still; audio-pts reports stop). Extrapolating at the
    new speed ran ~0.35 s ahead of the frame on screen, then stepped back while "playing"."""
    clock = MpvClock(mpv.socket_path)
    stamps = Stamps(clock)
    task = asyncio.create_task(clock.run())
    try:
        await stamps.until(lambda s: s.playback == "playing" and s.media_time > 1.0, "1 s played")
        for speed in (2.0, 1.0, 1.5):
            stamps.mark()
            await mpv.command("set_property", "speed", speed)
            ahead = []
            end = time.monotonic() + 0.8
            while time.monotonic() < end:
                instant, frame = await mpv.position("time-pos")
                stamped = stamps.at(instant)
                if clock.rate == speed:
                    # time-pos runs up to a frame ahead of the one on screen: the stamp is never
                    # ahead of it.
                    ahead.append(stamped.media_time - frame)
                await asyncio.sleep(0.01)
            stamps.now()
            causes = stamps.causes_since_mark()
            if speed > 1:
                assert causes == ["speed"], causes
            else:
                # On a slow-down mpv skips ahead ~0.35 s to where its audio is, flagged too: a jump
                # that comes before the speed change itself, and a stamp between them, is a resync.
                assert "speed" in causes and set(causes) <= {"speed", "resync"}, causes
            assert stamps.step_back_since_mark() < STEP_BACK, (speed, stamps.step_back_since_mark())
            if speed > 1:
                assert max(ahead) < TOLERANCE, (speed, max(ahead))
            await assert_in_step(clock, mpv)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_events_name_each_discontinuity_by_its_cause(mpv: MpvProcess, tmp_path: Path) -> None:
    """Dial samples stamped from mpv, over the wire form, into a session folder: events.csv has a
    row per discontinuity, named seek, speed or resync, where it used to say "seek" for all."""
    async with stamped_dial(MpvClock(mpv.socket_path)) as (sink, _):

        def flagged(cause: str) -> bool:
            return any(s.discontinuity == cause for s in sink.samples)

        await wait_for(lambda: flagged("resync") and sink.samples[-1].playback == "playing", what="playing")
        await mpv.command("set_property", "speed", 2.0)
        await wait_for(lambda: flagged("speed"), what="speed change flagged")
        await asyncio.sleep(0.3)
        await mpv.command("seek", 2.0, "absolute")
        await wait_for(lambda: flagged("seek"), what="seek flagged")
        await asyncio.sleep(0.3)
        samples = parse_samples(batch_json(sink.samples))
    assert {s.discontinuity for s in samples} == {False, "resync", "speed", "seek"}
    record = SessionRecord(tmp_path, "S1", window=100)
    record.on_samples(samples[0].dial, samples)
    record.close()
    rows = [e for e in read_events(tmp_path / "S1" / "events.csv") if e.source == "recorder"]
    kinds = [e.kind for e in rows if e.kind != "playback"]
    assert kinds == ["resync", "speed", "seek"], kinds
    seek = next(e for e in rows if e.kind == "seek")
    assert seek.media_time is not None and abs(seek.media_time - 2.0) < 0.1
