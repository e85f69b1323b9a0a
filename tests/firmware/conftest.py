"""The firmware under CPython: fakes of CircuitPython's own modules (microdial.sim.fakes), a real
pseudo-terminal for the data port, and a clock the test drives by hand (no real sleeps)."""

from __future__ import annotations

import contextlib
import os
import select
import time
import tty
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from microdial.sim import fakes

fakes.install()


from dialfw import app  # noqa: E402
from dialfw.clock import Clock  # noqa: E402
from dialfw.settings import load  # noqa: E402
from dialwire import Framer, encode  # noqa: E402

UID = bytes.fromhex("E6614103E7452D2F")
# The golden vectors' boot nonce; a dial built without one draws its own (test_boot.py).
BOOT = "9F3A61C2"


class Harness:
    """One dial on a pty: the test is the host on the slave side and turns the fake encoder."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        start_us: int = 0,
        ticks: bool = False,
        ticks_base: int = fakes.TICKS_START,
        getenv: Callable[[str], object] | None = None,
        read_cost_us: int = 0,
    ) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.slave, False)
        self.serial = fakes.Serial(self.master)
        # The pty hands bytes across asynchronously; counting what the firmware wrote lets the host
        # side wait for exactly that much instead of sleeping.
        self.written = 0
        self.taken = 0
        self.serial.on_write = self._count
        self.now_ns = start_us * 1000
        # Device time that passes with each clock read: the firmware's own work takes time too.
        self.read_cost_ns = read_cost_us * 1000
        self.ticks_base = ticks_base
        if ticks:
            self.clock = Clock(ticks_source=self.ticks, origin=self.ticks_base)
        else:
            self.clock = Clock(ns_source=self._read_ns, ticks_source=self.ticks, origin=0)
        self.settings, self.problems = load(getenv or (env or {}).get)
        self.framer = Framer()
        self.dial: Any = app.build(
            self.settings, self.problems, serial=self.serial, clock=self.clock, uid=UID, boot=BOOT
        )

    def _read_ns(self) -> int:
        now = self.now_ns
        self.now_ns += self.read_cost_ns
        return now

    def _count(self, data: bytes, written: int) -> None:
        self.written += written

    def ticks(self) -> int:
        return (self.ticks_base + self.now_ns // 1_000_000) & fakes.TICKS_MASK

    @property
    def encoder(self) -> Any:
        return self.dial.input.encoder

    def advance(self, ms: float) -> None:
        self.now_ns += int(ms * 1_000_000)

    def run(self, ms: float, every_ms: float = 1.0) -> None:
        """Loop iterations every every_ms for ms of device time."""
        for _ in range(int(ms / every_ms)):
            self.advance(every_ms)
            self.dial.step()

    def send(self, kind: str, fields: tuple[Any, ...] = ()) -> None:
        self.send_raw(encode(kind, fields))

    def send_raw(self, data: bytes) -> None:
        """Write as the host and wait (bounded) until the firmware's side can see the bytes."""
        expected = self.serial.in_waiting + len(data)
        os.write(self.slave, data)
        deadline = time.monotonic() + 2
        while self.serial.in_waiting < expected and time.monotonic() < deadline:
            select.select([self.master], [], [], 0.01)

    def read_raw(self) -> bytes:
        """Everything the firmware has written so far."""
        chunks = []
        deadline = time.monotonic() + 2
        while self.taken < self.written and time.monotonic() < deadline:
            select.select([self.slave], [], [], 0.01)
            try:
                chunk = os.read(self.slave, 65536)
            except BlockingIOError:
                continue
            self.taken += len(chunk)
            chunks.append(chunk)
        return b"".join(chunks)

    def records(self, kind: str | None = None) -> list[tuple[str, list[Any]]]:
        got = self.framer.feed(self.read_raw())
        return [r for r in got if kind is None or r[0] == kind]

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture
def make_dial() -> Iterator[Any]:
    made: list[Harness] = []

    def make(
        env: dict[str, str] | None = None,
        start_us: int = 0,
        ticks: bool = False,
        ticks_base: int = fakes.TICKS_START,
        getenv: Callable[[str], object] | None = None,
        read_cost_us: int = 0,
    ) -> Harness:
        harness = Harness(env, start_us, ticks, ticks_base, getenv, read_cost_us)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()


@pytest.fixture
def dial(make_dial: Any) -> Harness:
    return make_dial()
