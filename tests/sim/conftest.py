"""Simulated dials on real pseudo-terminals, read with pyserial and the shared Framer.

The firmware runs under microdial.sim.fakes (fakes of CircuitPython's own modules only)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import serial

from dialwire import Framer, encode

Record = tuple[str, list[Any]]


class Reader:
    """The host end of a simulated dial's port."""

    def __init__(self, path: str) -> None:
        self.port = serial.Serial(path, timeout=0.05)
        self.framer = Framer()
        self.seen: list[Record] = []
        self._pending: deque[Record] = deque()

    def send(self, kind: str, fields: tuple[Any, ...] = ()) -> None:
        self.port.write(encode(kind, fields))

    def until(self, match: Callable[[Record], bool], timeout: float = 5.0) -> Record:
        deadline = time.monotonic() + timeout
        while True:
            while self._pending:
                record = self._pending.popleft()
                self.seen.append(record)
                if match(record):
                    return record
            if time.monotonic() >= deadline:
                break
            self._pending.extend(self.framer.feed(self.port.read(4096)))
        raise AssertionError(f"no matching record within {timeout} s; last seen {self.seen[-5:]}")

    def kind(self, kind: str, timeout: float = 5.0) -> list[Any]:
        return self.until(lambda r: r[0] == kind, timeout)[1]

    def close(self) -> None:
        self.port.close()


@pytest.fixture
def open_reader() -> Iterator[Callable[[str], Reader]]:
    readers: list[Reader] = []

    def make(path: str) -> Reader:
        reader = Reader(path)
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.close()
