"""Helpers for the lab-integration tests: realistic dial output fed straight into a Sink."""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import pylsl

from microdial.device.stamp import DialKey
from microdial.model import Counters, DialStatus, Playback, Sample
from microdial.sinks.base import Sink


def status(key: DialKey, rate_hz: int = 100) -> DialStatus:
    return DialStatus(
        dial=key.dial,
        role=key.role,
        session=key.session,
        state="online",
        host_time=time.time(),
        firmware="microdial-fw 0.3.0",
        protocol=2,
        input="encoder",
        rate_hz=rate_hz,
        counters=Counters(),
    )


def sample(key: DialKey, seq: int, monotonic: float, media_time: float | None, wall_offset: float) -> Sample:
    playback: Playback = "playing" if media_time is not None else "no-player"
    return Sample(
        dial=key.dial,
        role=key.role,
        session=key.session,
        value=round(40 * math.sin(seq / 50 + len(key.dial))),
        seq=seq,
        device_time=seq / 100,
        host_time=monotonic + wall_offset,
        host_monotonic=monotonic,
        media_time=media_time,
        sync_uncertainty=0.0004,
        playback=playback,
        player="mpv" if media_time is not None else None,
        discontinuity=False,
    )


async def drive(
    sinks: dict[DialKey, Sink], seconds: float, rate_hz: int = 100, batch: int = 2
) -> list[Sample]:
    """Each dial's samples at rate_hz for `seconds`, given `batch` at a time as the runner does
    (one read of the port), stamped with when they were read; returns every sample given."""
    period = 1 / rate_hz
    wall = time.time() - time.monotonic()
    start = time.monotonic()
    given: list[Sample] = []
    total = round(seconds * rate_hz)
    for first in range(0, total, batch):
        due = start + (first + batch) * period
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        for index, (key, sink) in enumerate(sinks.items()):
            seqs = range(first, min(first + batch, total))
            # The dial read each sample at its own instant, a little before this read returned.
            batch_samples = [
                sample(key, seq, start + seq * period + index * 1e-4, 12.5 + seq * period, wall)
                for seq in seqs
            ]
            sink.put_samples(batch_samples)
            given.extend(batch_samples)
    return given


def lsl_offset() -> float:
    """time.monotonic() -> pylsl.local_clock(), measured here independently of LslClock."""
    best = (1.0, 0.0)
    for _ in range(20):
        before = time.monotonic()
        lsl = pylsl.local_clock()
        after = time.monotonic()
        best = min(best, (after - before, lsl - (before + after) / 2))
    return best[1]


INLET = Path(__file__).with_name("lsl_inlet.py")

# Everything an inlet received from one stream: {"samples": rows, "stamps": [...], "info": [xml]}.
Received = dict[str, list[Any]]


async def record_lsl(
    sinks: dict[DialKey, Sink], session: str, seconds: float, rate_hz: int = 100
) -> tuple[list[Sample], dict[str, Received]]:
    """Drive the dials' sinks (LSL outlets inside) while an inlet in another process records them;
    returns (samples given, what the inlet got by source id)."""
    for key, sink in sinks.items():
        sink.put_status(status(key, rate_hz))  # opens the outlet before any sample
    count = round(seconds * rate_hz)
    consumer = await asyncio.create_subprocess_exec(
        sys.executable,
        str(INLET),
        f"microdial:{session}:",
        str(len(sinks)),
        str(count),
        "30",
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 24,
    )
    assert consumer.stdout is not None
    ready = await asyncio.wait_for(consumer.stdout.readline(), 30)
    assert ready.split() == [b"ready", str(len(sinks)).encode()]
    given = await drive(sinks, seconds, rate_hz)
    for sink in sinks.values():
        await sink.flush(1.0)  # what waits for the push interval (run() would push it within it)
    got: dict[str, Received] = json.loads(await asyncio.wait_for(consumer.stdout.readline(), 60))
    await consumer.wait()
    return given, got
