"""`microdial player VIDEO`: play a video in the browser and follow it frame by frame.

The page (http://BIND:PORT/) reports every presented frame; a daemon started with
`--player browser:PORT` stamps samples with this clock. Nothing is loaded from the internet.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from microdial.config import Options
from microdial.errors import ConfigError
from microdial.players.browser import DEFAULT_PORT, BrowserClock
from microdial.web.base import check_exposure
from microdial.web.player import page_url, player_access

log = logging.getLogger(__name__)


class PlayerSettings(BaseSettings):
    port: int = Field(DEFAULT_PORT, gt=0, lt=65536, description="HTTP port of the page")
    bind: str = Field("127.0.0.1", description="address to listen on (127.0.0.1: this machine only)")
    token: str | None = Field(
        None,
        min_length=8,
        description="needed as ?token= by the page, its video and its report socket; required off loopback",
        json_schema_extra={"secret": True},
    )
    status_interval: float = Field(5.0, gt=0, description="seconds between log lines of the playback state")


OPTIONS = Options(PlayerSettings, "player")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="the video file to play")
    OPTIONS.add_to(parser)


async def serve(clock: BrowserClock, status_interval: float) -> None:
    follower = asyncio.create_task(clock.run())
    try:
        try:
            await asyncio.wait_for(clock.serving.wait(), 5.0)
        except TimeoutError:
            raise ConfigError(
                f"cannot listen on {clock.bind}:{clock.port} (in use?): choose another --port"
            ) from None
        url = page_url(clock.bind, clock.port, clock.token)
        print(f"microdial player: open {url} in a browser", flush=True)
        while not follower.done():
            await asyncio.sleep(status_interval)
            stamp = clock.stamp(time.monotonic())
            position = "-" if stamp.media_time is None else f"{stamp.media_time:.2f} s"
            log.info("%s at %s (page clock ±%s)", stamp.playback, position, _half_rtt(clock))
        await follower
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower


def _half_rtt(clock: BrowserClock) -> str:
    rtt = clock.page_clock.rtt
    return "?" if rtt is None else f"{rtt * 500:.1f} ms"


def run(args: argparse.Namespace) -> int:
    settings = OPTIONS.load(args)
    video: Path = args.video
    if not video.is_file():
        raise ConfigError(f"video {video} does not exist: give the path of a video file")
    check_exposure(settings.bind, player_access(settings.token))
    clock = BrowserClock(settings.port, video, settings.bind, token=settings.token)
    asyncio.run(serve(clock, settings.status_interval))
    return 0
