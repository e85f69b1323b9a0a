"""The daemon stamps every sample with the player's position: firmware sim → pipeline → real player clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from microdial.device.runner import DialRunner, RunnerOptions
from microdial.device.transports.serial import SerialTransport
from microdial.players.base import PlayerClock
from microdial.players.freerun import FreeRunClock
from microdial.players.mpv import MpvClock
from microdial.sinks.memory import MemorySink
from tests.host.support import make_dial, wait_for
from tests.players.support import MpvProcess


@asynccontextmanager
async def stamped_dial(player: PlayerClock) -> AsyncIterator[tuple[MemorySink, object]]:
    dial, _ = make_dial(rate_hz=100)
    path = dial.start()
    sink = MemorySink()
    runner = DialRunner(
        lambda: SerialTransport(path),
        "S1",
        "client",
        lambda key: sink,
        player,
        RunnerOptions(status_interval=0.2),
    )
    tasks = [asyncio.create_task(player.run()), asyncio.create_task(runner.run())]
    try:
        yield sink, dial
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        dial.stop()


async def test_samples_follow_mpv_through_play_pause_seek_and_quit(video: Path, tmp_path: Path) -> None:
    mpv = MpvProcess(video, tmp_path / "mpv.sock")
    await mpv.start("--pause=no")
    async with stamped_dial(MpvClock(tmp_path / "mpv.sock")) as (sink, _):
        await wait_for(lambda: bool(sink.samples) and sink.samples[-1].playback == "playing", what="playing")
        count = len(sink.samples)
        await asyncio.sleep(1.0)
        playing = [s for s in sink.samples[count:] if s.playback == "playing"]
        assert playing and all(s.player == "mpv" and s.media == str(video) for s in playing)
        # Media time advances with host time while playing (one second per second).
        span_media = playing[-1].media_time - playing[0].media_time  # type: ignore[operator]
        span_host = playing[-1].host_monotonic - playing[0].host_monotonic
        assert abs(span_media - span_host) < 0.05
        _, position = await mpv.position("audio-pts")
        assert abs(sink.samples[-1].media_time - position) < 0.2  # type: ignore[operator]

        await mpv.command("set_property", "pause", True)
        await wait_for(lambda: sink.samples[-1].playback == "paused", what="paused")
        count = len(sink.samples)
        await asyncio.sleep(0.3)
        paused = sink.samples[count:]
        assert paused and len({s.media_time for s in paused}) == 1

        await mpv.command("seek", 2.0, "absolute")
        await wait_for(lambda: any(s.discontinuity for s in sink.samples[count:]), what="a seek flagged")
        flagged = next(s for s in sink.samples[count:] if s.discontinuity)
        await wait_for(
            lambda: abs((sink.samples[-1].media_time or 0) - 2.0) < 0.1, what="position after seek"
        )
        assert flagged.media_time is not None

        await mpv.stop()
        await wait_for(lambda: sink.samples[-1].playback == "no-player", what="no player")
        assert sink.samples[-1].media_time is None


async def test_the_dial_button_drives_the_free_session_clock() -> None:
    clock = FreeRunClock()
    async with stamped_dial(clock) as (sink, dial):
        await wait_for(lambda: bool(sink.samples), what="samples")
        assert sink.samples[-1].playback == "paused"  # ready, not started
        dial.press(0.05)  # type: ignore[attr-defined]
        await wait_for(lambda: sink.samples[-1].playback == "playing", what="started by the button")
        await asyncio.sleep(0.5)
        assert (sink.samples[-1].media_time or 0) > 0.3
        dial.press(0.05)  # type: ignore[attr-defined]
        await wait_for(lambda: sink.samples[-1].playback == "paused", what="paused by the button")
        assert any(e.kind == "button" and e.detail == "mark" for e in sink.events)
