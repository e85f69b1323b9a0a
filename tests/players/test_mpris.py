"""MPRIS2 through a private dbus-daemon, with VLC's own MPRIS interface (cvlc --control dbus)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from microdial.players import open_player
from microdial.players.base import PlayerGone
from microdial.players.mpris import MprisClock
from tests.players.mpris_support import MprisRemote, PrivateBus
from tests.players.support import (
    VLC_SETTLE,
    Stamps,
    VlcProcess,
    assert_pauses_stand,
    assert_vlc_in_step,
)

VLC_NAME = "org.mpris.MediaPlayer2.vlc"


@pytest.fixture
def bus() -> Iterator[PrivateBus]:
    private = PrivateBus()
    private.start()
    yield private
    private.stop()


@pytest.fixture
async def vlc(video: Path, bus: PrivateBus) -> AsyncIterator[VlcProcess]:
    player = VlcProcess(video, "unused", "--control", "dbus")
    await player.start({"DBUS_SESSION_BUS_ADDRESS": bus.address}, http=False)
    yield player
    await player.stop()


def test_specs() -> None:
    named = open_player("mpris:vlc")
    assert isinstance(named, MprisClock) and named.player_name == VLC_NAME
    anyone = open_player("mpris")
    assert isinstance(anyone, MprisClock) and anyone.player_name is None


async def test_no_bus_or_no_player_is_no_player(tmp_path: Path, bus: PrivateBus) -> None:
    clock = MprisClock(bus_address=f"unix:path={tmp_path}/none")
    with pytest.raises(PlayerGone, match="no D-Bus session bus"):
        await clock._follow()  # noqa: SLF001  (one connection attempt; run() retries forever)
    assert clock.stamp(0).playback == "no-player"
    empty = MprisClock(bus_address=bus.address)
    with pytest.raises(PlayerGone, match="no MPRIS player"):
        await empty._follow()  # noqa: SLF001  (one connection attempt; run() retries forever)
    named = MprisClock("vlc", bus_address=bus.address)
    with pytest.raises(PlayerGone, match=r"org\.mpris\.MediaPlayer2\.vlc is not on the bus"):
        await named._follow()  # noqa: SLF001  (one connection attempt; run() retries forever)


async def test_follows_vlc_over_mpris(vlc: VlcProcess, bus: PrivateBus, video: Path) -> None:
    clock = MprisClock(bus_address=bus.address)
    stamps = Stamps(clock)
    task = asyncio.create_task(clock.run())
    remote = MprisRemote(bus.address, VLC_NAME)
    await remote.connect()
    try:
        first = await stamps.until(lambda s: s.playback == "playing" and s.media_time > 1, "playing")
        assert clock.bus_name is not None and clock.bus_name.startswith(VLC_NAME)
        assert first.media is not None and first.media.endswith(video.name)
        assert first.media_duration is not None and abs(first.media_duration - 20) < 0.1
        assert stamps.flagged_since_mark()
        await asyncio.sleep(VLC_SETTLE)
        await assert_vlc_in_step(clock, remote)

        stamps.mark()
        await remote.player("Pause")
        await stamps.until(lambda s: s.playback == "paused", "paused")
        await asyncio.sleep(0.3)  # real time passes in the real player; the paused position must not
        # Not against VLC's own paused Position, which is stale (test_a_pause_stands_where_vlc_stopped).
        held = stamps.now().media_time
        await asyncio.sleep(0.3)
        assert abs(stamps.now().media_time - held) < 0.05

        track = (await remote.get("Metadata"))["mpris:trackid"].value
        await remote.player("SetPosition", "ox", [track, 12_000_000])
        await stamps.until(lambda s: abs(s.media_time - 12) < 0.1, "seek")
        assert stamps.flagged_since_mark() and stamps.causes_since_mark() == ["seek"]
        await remote.player("Play")
        await stamps.until(lambda s: s.playback == "playing", "playing again")
        await asyncio.sleep(VLC_SETTLE)
        await assert_vlc_in_step(clock, remote)

        stamps.mark()
        await remote.set("Rate", "d", 2.0)
        await stamps.until(lambda s: clock.rate == 2.0, "2x")
        assert stamps.flagged_since_mark() and stamps.causes_since_mark()[0] == "speed"
        await asyncio.sleep(VLC_SETTLE)
        start = await assert_vlc_in_step(clock, remote)
        await asyncio.sleep(0.5)
        end = await assert_vlc_in_step(clock, remote)
        assert end - start > 0.6

        await vlc.stop()
        gone = await stamps.until(lambda s: s.playback == "no-player", "no-player")
        assert gone.media_time is None
        stamps.mark()
        await vlc.start({"DBUS_SESSION_BUS_ADDRESS": bus.address}, http=False)
        await stamps.until(lambda s: s.playback == "playing" and s.media_time > 1, "reconnect")
        assert stamps.flagged_since_mark()
        await asyncio.sleep(VLC_SETTLE)
        await assert_vlc_in_step(clock, remote)
    finally:
        remote.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_pause_stands_where_vlc_stopped(vlc: VlcProcess, bus: PrivateBus) -> None:
    """VLC leaves its MPRIS Position where its last refresh put it when it pauses, and signals Seeked
    when it resumes: the clock pauses where playback was, and resuming is no discontinuity."""
    clock = MprisClock(bus_address=bus.address)
    stamps = Stamps(clock)
    task = asyncio.create_task(clock.run())
    remote = MprisRemote(bus.address, VLC_NAME)
    await remote.connect()
    try:
        await stamps.until(lambda s: s.playback == "playing" and s.media_time > 1, "playing")
        await asyncio.sleep(VLC_SETTLE)
        await assert_pauses_stand(
            stamps, remote, lambda: remote.player("Pause"), lambda: remote.player("Play")
        )
    finally:
        remote.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
