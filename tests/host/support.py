"""Helpers for daemon tests: a firmware sim whose writes are logged, and waiting on conditions."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

from microdial.errors import TransportError
from microdial.sim.rater import RandomRater, Rater
from microdial.sim.runner import SimulatedDial


class SentLog:
    """Every S record the simulated firmware wrote completely, in order."""

    def __init__(self) -> None:
        self.samples: list[tuple[int, int, int]] = []
        self.written_at: dict[int, float] = {}

    def __call__(self, kind: str, fields: list[int | str], after_write: float) -> None:
        if kind == "S":
            seq, t_us, value = (int(field) for field in fields)
            self.samples.append((seq, t_us, value))
            self.written_at[seq] = after_write


def make_dial(
    role: str = "client", seed: int = 1, rate_hz: int = 100, rater: Rater | None = None, **kwargs: object
) -> tuple[SimulatedDial, SentLog]:
    log = SentLog()
    dial = SimulatedDial(
        rater or RandomRater(role, seed=seed), rate_hz=rate_hz, seed=seed, on_write=log, **kwargs
    )  # type: ignore[arg-type]
    return dial, log


class Chunks:
    """A transport's Receiver for tests that read what arrives in order, as a pull reader would."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[bytes | TransportError] = asyncio.Queue()

    def data_received(self, data: bytes) -> None:
        self._queue.put_nowait(data)

    def connection_lost(self, error: TransportError) -> None:
        self._queue.put_nowait(error)

    async def get(self) -> bytes:
        """The next chunk; raises the error that ended the stream once everything before it was read."""
        item = await self._queue.get()
        if isinstance(item, TransportError):
            raise item
        return item


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


class CorruptingLink:
    """A second pty between the simulated dial and the daemon that injects garbage and bit flips.

    Forwards every byte from the dial's port to its own port unchanged, and before every
    `every`-th chunk also writes random garbage and a bit-flipped copy of a record, so
    intact records stay intact and damaged ones must be skipped.
    """

    def __init__(self, source_path: str, every: int = 3, seed: int = 5) -> None:
        import random

        self._rng = random.Random(seed)
        self._source = os.open(source_path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self._source)
        self._master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave
        self._every = every
        self.injected_bytes = 0
        self.damaged = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        import select

        count = 0
        while not self._stop.is_set():
            ready, _, _ = select.select([self._source, self._master], [], [], 0.05)
            if self._master in ready:  # commands from the daemon go to the dial untouched
                try:
                    os.write(self._source, os.read(self._master, 4096))
                except OSError:
                    return
            if self._source not in ready:
                continue
            try:
                chunk = os.read(self._source, 4096)
            except OSError:
                return
            count += 1
            out = chunk
            start = chunk.find(b"$")
            end = chunk.find(b"\n", start)
            if count % self._every == 0 and 0 <= start < end:
                garbage = bytes(self._rng.randrange(256) for _ in range(self._rng.randrange(1, 64)))
                # A copy of one record with one bit flipped: CRC-16 catches every single-bit error.
                flipped = bytearray(chunk[start : end + 1])
                flipped[self._rng.randrange(len(flipped))] ^= 1 << self._rng.randrange(8)
                out = garbage + b"\n" + bytes(flipped) + chunk
                self.injected_bytes += len(out) - len(chunk)
                self.damaged += 1
            os.write(self._master, out)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for fd in (self._source, self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))
