"""No non-finite time leaves the daemon (issue 13): the player page is the one input that could
send NaN or Infinity (json.loads takes them); its reports with them are dropped, so no Sample is
stamped with a time model.Time refuses."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import aiohttp

from microdial.embedded_broker import free_port
from microdial.players.browser import BrowserClock


async def test_page_reports_with_nan_or_infinity_are_dropped(tmp_path: Path) -> None:
    video = tmp_path / "talk.mp4"
    video.write_bytes(b"\0" * 64)
    port = free_port()
    clock = BrowserClock(port, video)
    task = asyncio.create_task(clock.run())
    try:
        await asyncio.wait_for(clock.serving.wait(), 10)
        async with aiohttp.ClientSession() as http, http.ws_connect(f"http://127.0.0.1:{port}/ws/page") as ws:
            await ws.send_str('{"type": "media", "at": 1000.0, "media": 2.0, "duration": 60.0}')
            await ws.send_str('{"type": "playing", "at": 1001.0, "media": 2.0}')
            await ws.send_str('{"type": "seeked", "at": NaN, "media": 3.0}')
            await ws.send_str('{"type": "seeked", "at": 1002.0, "media": Infinity}')
            await ws.send_str('{"type": "seeked", "at": 1002.0, "media": -1e999}')
            await ws.send_str('{"type": "media", "at": 1002.0, "media": 2.5, "duration": 1e999}')
            await asyncio.sleep(0.3)
            stamp = clock.stamp(time.monotonic())
        assert stamp.playback == "playing" and stamp.media_duration == 60.0
        assert stamp.media_time is not None and 2.0 <= stamp.media_time < 3.0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
