"""LSL out: the time stamp error against each sample's host time, and what the LSL sink costs.

    python benchmarks/bench_lsl.py [--dials 8] [--seconds 10]       # stamp error, sink CPU
    python benchmarks/bench_lsl.py --daemon --dials 64 [--seconds 20] [--repeat 3] [--no-consumer]

Stamp error: `--dials` outlets (sinks.lsl through a TeeSink, as the daemon fans out) fed 100 Hz
samples in 2-sample batches; an inlet in another process records them; the error is each received
stamp minus the sample's host_monotonic mapped onto LSL's clock by an independent measurement.

Sink CPU: 64 dials' pre-built samples pushed in real time (100 Hz, 2-sample batches, every 20 ms)
into LSL sinks with a consumer attached, against the same loop into a sink that does nothing; the
difference in this process's CPU (all threads, liblsl's too) per second and per sample.

--daemon: bench_scale's load generator (64 pseudo-terminals speaking the wire protocol) and
`microdial daemon` run twice, without and with `--lsl` (an LSL consumer attached), its CPU from
/proc over the same window. Needs the daemon's --lsl flag.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.bench_scale import cpu_seconds, start_daemon
from microdial.device.stamp import DialKey
from microdial.embedded_broker import MosquittoProcess
from microdial.model import DialEvent, DialStatus, Sample
from microdial.sinks.base import Sink
from microdial.sinks.lsl import lsl_sinks
from microdial.sinks.lslformat import LABELS
from microdial.sinks.tee import tee_sinks
from tests.lab.support import INLET, lsl_offset, record_lsl, sample, status


class Nothing(Sink):
    def put_samples(self, samples: Sequence[Sample]) -> None:
        return

    def put_status(self, status: DialStatus) -> None:
        return

    def put_event(self, event: DialEvent) -> None:
        return

    async def run(self) -> None:
        await asyncio.Event().wait()


async def stamp_error(dials: int, seconds: float) -> None:
    session = f"B{uuid.uuid4().hex[:8]}"
    keys = [DialKey(session, f"D{n}", f"r{n}") for n in range(dials)]
    make = tee_sinks(lambda key: Nothing(), lsl_sinks())
    given, got = await record_lsl({key: make(key) for key in keys}, session, seconds)
    offset = lsl_offset()
    errors = []
    for key in keys:
        mine = [s for s in given if s.dial == key.dial]
        received = got[f"microdial:{session}:{key.role}:{key.dial}"]
        seqs = [int(row[LABELS.index("seq")]) for row in received["samples"]]
        assert seqs == [s.seq for s in mine], f"{key.dial}: lost or reordered samples"
        errors += [
            stamp - (s.host_monotonic + offset) for stamp, s in zip(received["stamps"], mine, strict=True)
        ]
    error = np.abs(np.asarray(errors)) * 1e6
    print(
        f"stamp error, {dials} dials x 100 Hz x {seconds:.0f} s ({len(errors)} samples, every one received in "
        f"order): p50 {np.percentile(error, 50):.2f} us, p99 {np.percentile(error, 99):.2f} us, "
        f"max {error.max():.2f} us",
        flush=True,
    )


async def paced(sinks: list[Sink], batches: list[list[list[Sample]]], period: float) -> float:
    """Push batches[tick][dial] into sinks[dial] every period; returns CPU seconds per second."""
    cpu, wall = time.process_time(), time.monotonic()
    for tick, per_dial in enumerate(batches):
        await asyncio.sleep(max(0.0, wall + tick * period - time.monotonic()))
        for sink, batch in zip(sinks, per_dial, strict=True):
            sink.put_samples(batch)
    return (time.process_time() - cpu) / (time.monotonic() - wall)


async def sink_cpu(dials: int, seconds: float) -> None:
    session = f"B{uuid.uuid4().hex[:8]}"
    keys = [DialKey(session, f"D{n}", f"r{n}") for n in range(dials)]
    wall = time.time() - time.monotonic()
    now = time.monotonic()
    ticks = round(seconds * 50)
    batches = [
        [[sample(k, 2 * t + i, now + t * 0.02, t * 0.02, wall) for i in range(2)] for k in keys]
        for t in range(ticks)
    ]
    baseline = await paced([Nothing() for _ in keys], batches, 0.02)
    make = lsl_sinks()
    sinks = [make(key) for key in keys]
    for key, sink in zip(keys, sinks, strict=True):
        sink.put_status(status(key))
    consumer = subprocess.Popen(
        [sys.executable, str(INLET), f"microdial:{session}:", str(dials), str(ticks * 2), str(seconds + 30)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert consumer.stdout is not None
    await asyncio.to_thread(consumer.stdout.readline)  # ready
    with_lsl = await paced(sinks, batches, 0.02)
    consumer.kill()
    consumer.wait()
    per_sample = (with_lsl - baseline) / (dials * 100) * 1e6
    print(
        f"LSL sink CPU, {dials} dials x 100 Hz: {with_lsl * 100:.1f} % of one core with LSL, "
        f"{baseline * 100:.1f} % without: +{(with_lsl - baseline) * 100:.1f} %, {per_sample:.1f} us per sample",
        flush=True,
    )


async def daemon_cpu(dials: int, seconds: float, extra: list[str], consume: bool = True) -> float | None:
    """The daemon's CPU (% of one core) over a middle window, with extra arguments."""
    bench_scale = Path(__file__).with_name("bench_scale.py")
    session = "LSLBENCH"
    with MosquittoProcess(persistence=False) as broker, tempfile.TemporaryDirectory() as tmp:
        generator = subprocess.Popen(
            [sys.executable, str(bench_scale), "--generate", tmp, str(dials), "100", str(seconds)],
            stdout=subprocess.DEVNULL,
        )
        await asyncio.sleep(0.5)
        daemon = start_daemon(Path(tmp), broker, session, extra=tuple(extra))
        consumer = None
        if extra and consume:
            consumer = subprocess.Popen(
                [
                    sys.executable,
                    str(INLET),
                    f"microdial:{session}:",
                    str(dials),
                    str(10**9),
                    str(seconds + 5),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        try:
            await asyncio.sleep(5.0)  # ports found, clocks synced, outlets open
            if daemon.poll() is not None:
                return None
            cpu, wall = cpu_seconds(daemon.pid), time.monotonic()
            await asyncio.sleep(seconds - 4.0)
            return (cpu_seconds(daemon.pid) - cpu) / (time.monotonic() - wall) * 100
        finally:
            for proc in (consumer, daemon, generator):
                if proc is not None:
                    proc.terminate()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(10)


async def main(args: argparse.Namespace) -> None:
    if args.daemon:
        # Alternated, and medians: on a shared machine the load drifts between runs.
        without: list[float] = []
        with_lsl: list[float] = []
        for _ in range(args.repeat):
            plain = await daemon_cpu(args.dials, args.seconds, [])
            lsl = await daemon_cpu(args.dials, args.seconds, ["--lsl"], not args.no_consumer)
            if plain is None or lsl is None:
                raise SystemExit("the daemon exited early (has `microdial daemon --lsl` been wired?)")
            without.append(plain)
            with_lsl.append(lsl)
            print(f"  run: {plain:.1f} % without, {lsl:.1f} % with --lsl", flush=True)
        base, more = float(np.median(without)), float(np.median(with_lsl))
        paired = float(np.median([b - a for a, b in zip(without, with_lsl, strict=True)]))
        consumer = "no LSL consumer" if args.no_consumer else "an LSL inlet reading every outlet"
        print(
            f"daemon CPU, {args.dials} dials x 100 Hz, median of {args.repeat}: {base:.1f} % of one core without "
            f"LSL, {more:.1f} % with --lsl and {consumer} ({(more / base - 1) * 100:+.1f} %); median paired "
            f"difference {paired:+.1f} points",
            flush=True,
        )
        return
    await stamp_error(args.dials, args.seconds)
    await sink_cpu(64, args.seconds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--dials", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--daemon", action="store_true", help="the daemon's CPU with --lsl vs without")
    parser.add_argument("--repeat", type=int, default=3, help="--daemon: alternating runs of each")
    parser.add_argument(
        "--no-consumer", action="store_true", help="--daemon: no LSL inlet reading the outlets"
    )
    asyncio.run(main(parser.parse_args()))
