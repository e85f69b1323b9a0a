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

    python benchmarks/bench_latency.py [--changes 400] [--interval 0.05] [--block 25]
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

    name = "microdial sim→daemon→broker"
    topic = f"microdial/v1/{SESSION}/+/samples"

    def __init__(self, broker: MosquittoProcess) -> None:
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
                *("--session", SESSION, "--rater", "client", "--no-status"),
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
    args = parser.parse_args()
    with MosquittoProcess(persistence=False) as broker, contextlib.ExitStack() as stack:
        ours = Microdial(broker)
        stack.callback(ours.close)
        floor1, floor0 = Floor(broker, qos=1), Floor(broker, qos=0)
        stack.callback(floor1.close)
        stack.callback(floor0.close)
        by_topic = {floor1.topic: floor1, floor0.topic: floor0}
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.subscribe(ours.topic, qos=1)
            await client.subscribe(floor1.topic, qos=1)
            await client.subscribe(floor0.topic, qos=0)

            async def drive() -> None:
                await asyncio.sleep(3.0)  # daemon up and synced, publishers connected
                for pipeline in turns([ours, floor1, floor0], -(-args.changes // args.block)):
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
                    by_topic.get(topic, ours).received(message.payload, now)
            await driving
    for pipeline in (floor1, floor0, ours):
        p50, p99 = percentiles(pipeline.latencies)
        print(f"{pipeline.name:33s} n={len(pipeline.latencies)} p50={p50:.3f} ms p99={p99:.3f} ms")
    f50, f99 = percentiles(floor1.latencies)
    m50, m99 = percentiles(ours.latencies)
    print(f"ratio to the QoS 1 floor: p50 {m50 / f50:.2f}x  p99 {m99 / f99:.2f}x  (target p50 <= 1.2x)")


if __name__ == "__main__":
    asyncio.run(main())
