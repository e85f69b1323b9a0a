"""`microdial sim`: a simulated dial running the real firmware on a pseudo-terminal.

The first line on stdout is the pty's slave path (open it as you would /dev/ttyACM1);
--link makes a stable symlink to it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from microdial.config import Options
from microdial.errors import ConfigError
from microdial.model import RatingValue
from microdial.sim.rater import RandomRater, Rater, ScriptedRater, SteadyRater
from microdial.sim.runner import SimulatedDial

log = logging.getLogger(__name__)


class SimSettings(BaseSettings):
    rater: str = Field("random", description="random, steady, or FILE.csv with rows time_s,value")
    role: Literal["client", "therapist"] = Field("client", description="shapes the random rater")
    value: RatingValue = Field(0, description="the steady rater's value")
    seed: int = Field(0, description="seed of the random rater and the default device id")
    rate: int = Field(50, ge=1, le=1000, description="periodic samples per second")
    device_id: str | None = Field(
        None, pattern="^[0-9A-Fa-f]{2,32}$", description="device id in hex; none: random, from the seed"
    )
    clock_offset: float = Field(0.0, description="device clock at start, seconds")
    clock_drift_ppm: float = Field(
        0.0, ge=-10_000, le=10_000, description="device clock drift, parts per million"
    )
    ticks_ms: bool = Field(
        False, description="device clock from supervisor.ticks_ms, starting 5 s before its 2**29 ms wrap"
    )
    duration: float | None = Field(None, gt=0, description="stop after this many seconds; none: run until ^C")
    link: Path | None = Field(None, description="keep a symlink at this path to the pty")


OPTIONS = Options(SimSettings, "sim")


def configure(parser: argparse.ArgumentParser) -> None:
    OPTIONS.add_to(parser)


def make_rater(settings: SimSettings) -> Rater:
    if settings.rater == "random":
        return RandomRater(settings.role, settings.seed)
    if settings.rater == "steady":
        return SteadyRater(settings.value)
    path = Path(settings.rater)
    if path.suffix.lower() != ".csv":
        raise ConfigError(f"--rater must be random, steady or a .csv file, not {settings.rater!r}")
    return ScriptedRater.from_csv(path)


def run(args: argparse.Namespace) -> int:
    settings = OPTIONS.load(args)
    rater = make_rater(settings)
    dial = SimulatedDial(
        rater,
        device_id=settings.device_id,
        rate_hz=settings.rate,
        clock_offset=settings.clock_offset,
        clock_drift_ppm=settings.clock_drift_ppm,
        link=settings.link,
        ticks_ms=settings.ticks_ms,
        seed=settings.seed,
    )
    done = threading.Event()

    def finish(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    path = dial.start()
    print(path, flush=True)
    log.info("dial %s on %s (%s rater)", dial.device_id, path, settings.rater)
    started = time.monotonic()
    try:
        while not done.wait(1.0 if settings.duration is None else 0.1):
            if settings.duration is not None and time.monotonic() - started >= settings.duration:
                break
    finally:
        dial.stop()
    fw = dial.firmware
    log.info(
        "stopped: %d samples, %d records dropped, %d errors",
        fw.seq,
        fw.link.dropped_records,
        fw.errors,
    )
    return 0
