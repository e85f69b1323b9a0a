"""Latency from the dial writing a changed value to an MQTT subscriber receiving it, against the floor.

microdial: the firmware sim writes a sample on a pty → `microdial daemon` (a separate process)
→ Mosquitto → a subscriber in this process. Floor: the same pty path without microdial — lines
written on a pty are read by `mosquitto_pub -l` (QoS 1, and QoS 0 for reference) straight into
the same broker. Both are timed with the system-wide monotonic clock, in this process, with the
same subscriber.

All three pipelines run side by side for the whole measurement and take turns in blocks of
changes, so a machine that gets busier or quieter during the run shifts floor and microdial
alike instead of skewing the ratio (a floor measured first and microdial after it varied from
0.63 to 0.99 ms between runs on one machine).

With --io thread selector (issue 19), one microdial pipeline per reading mode runs in the same
rotation: the reader thread Windows and macOS use against Linux's selector path, on one machine
at one time.

    python benchmarks/bench_latency.py [--changes 400] [--interval 0.05] [--block 25] [--io selector thread]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
import tty
from collections.abc import Iterator

import aiomqtt

from microdial.embedded_broker import MosquittoProcess
from microdial.model import parse_samples
from microdial.sim.rater import SteadyRater
from microdial.sim.runner import SimulatedDial

SESSION = "BENCH"


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return p50 * 1000, p99 * 1000


class Microdial:
    """The simulated dial on a pty, read by a `microdial daemon` process."""

    def __init__(self, broker: MosquittoProcess, io: str = "auto") -> None:
        self.name = "microdial sim→daemon→broker" + ("" if io == "auto" else f" (--io {io})")
        self.session = SESSION + ("" if io == "auto" else io.upper())
        self.topic = f"microdial/v1/{self.session}/+/samples"
        self.written: dict[int, float] = {}
        self.latencies: list[float] = []
        self._armed = False
        self._last_value: int | None = None
        self._sign = 1
        self.dial = SimulatedDial(SteadyRater(0), rate_hz=50, seed=11, on_write=self._on_write)
        path = self.dial.start()
        self.daemon = subprocess.Popen(
            [
                *(sys.executable, "-m", "microdial", "daemon", "--port", path, "--broker", broker.url),
                *("--session", self.session, "--rater", "client", "--no-status", "--io", io),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _on_write(self, kind: str, fields: list[int | str], after: float) -> None:
        if kind == "S":
            seq, value = int(fields[0]), int(fields[2])
            if value != self._last_value and self._armed:
                self.written[seq] = after
            self._last_value = value

    def change(self) -> None:
        self._armed = True
        self._sign = -self._sign
        self.dial.set_value(10 * self._sign)

    def received(self, payload: bytes, now: float) -> None:
        for sample in parse_samples(payload):
            written = self.written.pop(sample.seq, None)
            if written is not None:
                self.latencies.append(now - written)

    def close(self) -> None:
        self.daemon.terminate()
        self.daemon.wait()
        self.dial.stop()


class Floor:
    """Lines written on a pty that `mosquitto_pub -l` reads and publishes."""

    def __init__(self, broker: MosquittoProcess, qos: int) -> None:
        self.name = f"floor  mosquitto_pub -l (QoS {qos})"
        self.topic = f"floor/q{qos}"
        self.sent: dict[int, float] = {}
        self.latencies: list[float] = []
        self._next = 0
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.publisher = subprocess.Popen(
            [
                "mosquitto_pub",
                "-h",
                "127.0.0.1",
                "-p",
                str(broker.port),
                "-t",
                self.topic,
                "-q",
                str(qos),
                "-l",
            ],
            stdin=self._slave,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def change(self) -> None:
        index, self._next = self._next, self._next + 1
        os.write(self.master, f"{index}\n".encode())
        self.sent[index] = time.monotonic()

    def received(self, payload: bytes, now: float) -> None:
        sent = self.sent.pop(int(payload), None)
        if sent is not None:
            self.latencies.append(now - sent)

    def close(self) -> None:
        self.publisher.terminate()
        self.publisher.wait()
        os.close(self.master)
        os.close(self._slave)


def turns(pipelines: list[Microdial | Floor], blocks: int) -> Iterator[Microdial | Floor]:
    """Block by block, each pipeline in turn, the order rotating so none always goes first."""
    for block in range(blocks):
        shift = block % len(pipelines)
        yield from pipelines[shift:] + pipelines[:shift]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=400, help="per pipeline")
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--block", type=int, default=25, help="changes in a row on one pipeline")
    parser.add_argument(
        "--io",
        nargs="+",
        choices=["auto", "selector", "thread"],
        default=["auto"],
        help="one pipeline per mode",
    )
    args = parser.parse_args()
    with MosquittoProcess(persistence=False) as broker, contextlib.ExitStack() as stack:
        mine = [Microdial(broker, io) for io in args.io]
        for pipeline in mine:
            stack.callback(pipeline.close)
        floor1, floor0 = Floor(broker, qos=1), Floor(broker, qos=0)
        stack.callback(floor1.close)
        stack.callback(floor0.close)
        by_topic: dict[str, Microdial | Floor] = {floor1.topic: floor1, floor0.topic: floor0}
        by_session = {pipeline.session: pipeline for pipeline in mine}
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            for pipeline in mine:
                await client.subscribe(pipeline.topic, qos=1)
            await client.subscribe(floor1.topic, qos=1)
            await client.subscribe(floor0.topic, qos=0)

            async def drive() -> None:
                await asyncio.sleep(3.0)  # daemon up and synced, publishers connected
                for pipeline in turns([*mine, floor1, floor0], -(-args.changes // args.block)):
                    for _ in range(args.block):
                        pipeline.change()
                        await asyncio.sleep(args.interval)
                await asyncio.sleep(1.0)

            driving = asyncio.create_task(drive())
            messages = aiter(client.messages)
            while not driving.done():
                with contextlib.suppress(TimeoutError):
                    message = await asyncio.wait_for(anext(messages), 0.5)
                    now = time.monotonic()
                    assert isinstance(message.payload, bytes)
                    topic = str(message.topic)
                    target = by_topic.get(topic) or by_session[topic.split("/")[2]]
                    target.received(message.payload, now)
            await driving
    for pipeline in (floor1, floor0, *mine):
        p50, p99 = percentiles(pipeline.latencies)
        print(f"{pipeline.name:45s} n={len(pipeline.latencies)} p50={p50:.3f} ms p99={p99:.3f} ms")
    f50, f99 = percentiles(floor1.latencies)
    for pipeline in mine:
        m50, m99 = percentiles(pipeline.latencies)
        print(
            f"{pipeline.name}: ratio to the QoS 1 floor p50 {m50 / f50:.2f}x  p99 {m99 / f99:.2f}x  (target p50 <= 1.2x)"
        )
    if len(mine) == 2:
        (a50, _), (b50, _) = (percentiles(pipeline.latencies) for pipeline in mine)
        print(f"p50 of {mine[1].name} over {mine[0].name}: {b50 / a50:.3f} (target within 10 %)")


if __name__ == "__main__":
    asyncio.run(main())
