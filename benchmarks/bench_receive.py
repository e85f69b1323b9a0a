"""Per-sample cost of the receive path: encoded S records → DialRunner.data_received → MemorySink.

    python benchmarks/bench_receive.py [--samples 200000] [--per-read 4] [--repeat 5]

An in-memory transport stands in for the port (the cost measured is the host's, not the port's);
records arrive per-read records at a time, as a 100 Hz dial's reads do. Prints µs per sample, the best of
--repeat runs.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from dialwire import encode
from microdial.device.runner import DialRunner
from microdial.device.transports.base import Receiver, Transport
from microdial.sinks.memory import MemorySink


class MemoryTransport(Transport):
    location = "memory"

    def __init__(self) -> None:
        self.opened = asyncio.Event()

    async def open(self, receiver: Receiver) -> None:
        self.opened.set()

    async def write(self, data: bytes) -> None:
        pass

    async def close(self) -> None:
        pass


async def measure(samples: int, per_read: int) -> float:
    transport = MemoryTransport()
    sink = MemorySink()
    runner = DialRunner(lambda: transport, "S1", "client", lambda key: sink)
    task = asyncio.create_task(runner.run())
    await transport.opened.wait()
    runner.data_received(encode("ID", (1, "0.1.0", "E6614103E7452D2F", "encoder", 100, 4, 0)))
    await runner.identified.wait()
    reads = [
        b"".join(
            encode("S", (seq, 1_000_000 + seq * 10_000, seq % 101 - 50))
            for seq in range(start, start + per_read)
        )
        for start in range(0, samples, per_read)
    ]
    began = time.process_time()
    for data in reads:
        runner.data_received(data)
    elapsed = time.process_time() - began
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(sink.samples) == len(reads) * per_read, len(sink.samples)
    return elapsed / (len(reads) * per_read) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--per-read", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    best = min(asyncio.run(measure(args.samples, args.per_read)) for _ in range(args.repeat))
    print(f"{best:.2f} µs per sample ({args.per_read} per read, best of {args.repeat})")


if __name__ == "__main__":
    main()
