"""Latency from the dial writing a changed value to an MQTT subscriber receiving it, against the floor.

microdial: the firmware sim writes a sample on a pty → `microdial daemon` (a separate process)
→ Mosquitto → a subscriber in this process. Floor: the same pty path without microdial — lines
written on a pty are read by `mosquitto_pub -l` straight into the same broker. Both sides are
timed with the system-wide monotonic clock, in this process, with the same subscriber code.

    python benchmarks/bench_latency.py [--changes 400] [--interval 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
import tty

import aiomqtt

from microdial.broker import MosquittoProcess
from microdial.payloads import parse_samples
from microdial.sim.rater import SteadyRater
from microdial.sim.runner import SimulatedDial


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return p50 * 1000, p99 * 1000


async def microdial_latency(broker: MosquittoProcess, changes: int, interval: float) -> list[float]:
    written: dict[int, float] = {}
    changed: set[int] = set()
    last_value: list[int | None] = [None]

    def on_write(kind: str, fields: list[int | str], after: float) -> None:
        if kind == "S":
            seq, value = int(fields[0]), int(fields[2])
            if value != last_value[0]:
                written[seq] = after
                changed.add(seq)
            last_value[0] = value

    dial = SimulatedDial(SteadyRater(0), rate_hz=50, seed=11, on_write=on_write)
    path = dial.start()
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "microdial",
            "daemon",
            "--port",
            path,
            "--broker",
            broker.url,
            "--session",
            "BENCH",
            "--rater",
            "client",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latencies: list[float] = []
    try:
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.subscribe("microdial/v1/BENCH/+/samples", qos=1)

            async def turn() -> None:
                await asyncio.sleep(3.0)  # daemon up and synced
                changed.clear()
                for i in range(changes):
                    dial.set_value(10 if i % 2 == 0 else -10)
                    await asyncio.sleep(interval)

            turning = asyncio.create_task(turn())
            async for message in client.messages:
                now = time.monotonic()
                assert isinstance(message.payload, bytes)
                for sample in parse_samples(message.payload):
                    if sample.seq in changed:
                        latencies.append(now - written[sample.seq])
                if turning.done() and len(latencies) >= changes - 1:
                    break
                if turning.done() and time.monotonic() - now > 5:
                    break
    finally:
        daemon.terminate()
        daemon.wait()
        dial.stop()
    return latencies


async def floor_latency(broker: MosquittoProcess, changes: int, interval: float, qos: int) -> list[float]:
    master, slave = os.openpty()
    tty.setraw(slave)
    publisher = subprocess.Popen(
        [
            "mosquitto_pub",
            "-h",
            "127.0.0.1",
            "-p",
            str(broker.port),
            "-t",
            "floor/line",
            "-q",
            str(qos),
            "-l",
        ],
        stdin=slave,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sent: dict[int, float] = {}
    latencies: list[float] = []

    def write_lines() -> None:
        time.sleep(1.0)
        for i in range(changes):
            line = f"{i}\n".encode()
            os.write(master, line)
            sent[i] = time.monotonic()
            time.sleep(interval)

    try:
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.subscribe("floor/line", qos=qos)
            writer = threading.Thread(target=write_lines, daemon=True)
            writer.start()
            async for message in client.messages:
                now = time.monotonic()
                assert isinstance(message.payload, bytes)
                index = int(message.payload)
                if index in sent:
                    latencies.append(now - sent[index])
                if index == changes - 1:
                    break
            writer.join()
    finally:
        publisher.terminate()
        publisher.wait()
        os.close(master)
        os.close(slave)
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=400)
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()
    with MosquittoProcess(persistence=False) as broker:
        floor1 = await floor_latency(broker, args.changes, args.interval, qos=1)
        floor0 = await floor_latency(broker, args.changes, args.interval, qos=0)
        ours = await microdial_latency(broker, args.changes, args.interval)
    f50, f99 = percentiles(floor1)
    z50, z99 = percentiles(floor0)
    m50, m99 = percentiles(ours)
    print(f"floor  mosquitto_pub -l (QoS 1): n={len(floor1)} p50={f50:.3f} ms p99={f99:.3f} ms")
    print(f"floor  mosquitto_pub -l (QoS 0): n={len(floor0)} p50={z50:.3f} ms p99={z99:.3f} ms")
    print(f"microdial sim→daemon→broker:     n={len(ours)} p50={m50:.3f} ms p99={m99:.3f} ms")
    print(f"ratio to the QoS 1 floor: p50 {m50 / f50:.2f}x  p99 {m99 / f99:.2f}x  (target p50 <= 1.2x)")


if __name__ == "__main__":
    asyncio.run(main())
