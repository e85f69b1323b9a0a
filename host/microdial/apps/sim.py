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

from pydantic import Field
from pydantic_settings import BaseSettings

from microdial.config import add_config_argument, load_settings
from microdial.errors import ConfigError
from microdial.sim.rater import ROLES, RandomRater, Rater, ScriptedRater, SteadyRater
from microdial.sim.runner import SimulatedDial

log = logging.getLogger(__name__)


class SimSettings(BaseSettings):
    rater: str = Field("random", description="random, steady, or a CSV file of time_s,value")
    role: str = Field("client", pattern="^(client|therapist)$")
    value: int = Field(0, ge=-50, le=50, description="the steady rater's value")
    seed: int = 0
    rate: int = Field(50, ge=1, le=1000)
    device_id: str | None = Field(None, pattern="^[0-9A-Fa-f]{2,32}$")
    clock_offset: float = 0.0
    clock_drift_ppm: float = Field(0.0, ge=-10_000, le=10_000)
    ticks_ms: bool = False
    duration: float | None = Field(None, gt=0)
    link: Path | None = None


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rater", help="random (default), steady, or FILE.csv with rows time_s,value")
    parser.add_argument("--role", choices=ROLES, help="shapes the random rater (default client)")
    parser.add_argument("--value", type=int, help="the steady rater's value (default 0)")
    parser.add_argument("--seed", type=int, help="seed of the random rater and the default device id")
    parser.add_argument("--rate", type=int, help="periodic samples per second (default 50)")
    parser.add_argument("--device-id", help="device id in hex (default: random, from the seed)")
    parser.add_argument("--clock-offset", type=float, help="device clock at start, seconds")
    parser.add_argument("--clock-drift-ppm", type=float, help="device clock drift, parts per million")
    parser.add_argument(
        "--ticks-ms",
        action="store_true",
        default=None,
        help="device clock from supervisor.ticks_ms, starting 5 s before its 2**29 ms wrap",
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: run until ^C)")
    parser.add_argument("--link", type=Path, help="keep a symlink at this path to the pty")
    add_config_argument(parser)


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
    overrides = {
        name: getattr(args, name)
        for name in (
            "rater",
            "role",
            "value",
            "seed",
            "rate",
            "device_id",
            "clock_offset",
            "clock_drift_ppm",
            "ticks_ms",
            "duration",
            "link",
        )
    }
    settings = load_settings(SimSettings, "sim", overrides, args.config)
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
