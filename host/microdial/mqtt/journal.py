"""Where a dial's samples wait until every recorder the daemon waits for confirmed them.

The daemon's journal is a Spool (microdial.mqtt.spool: crash-safe segments on disk, bounded by
the disk) that every sample goes through, not only those of an outage: a record leaves it only
when every configured recorder confirmed it (protocol/SPEC.md 3.5), or, with no recorder
configured, when the broker acknowledged it. Without a spool directory the journal lives in
memory, bounded by a count, with the same interface.
"""

from __future__ import annotations

import os
import secrets
from collections import deque
from itertools import islice
from pathlib import Path
from typing import Protocol

from microdial.durable import sync_directory


def directory_id(directory: Path) -> str:
    """A journal directory's random name, made with it: record indices count from 0 again in a
    new directory, so (id, index) names a record wherever it is replayed."""
    path = directory / "id"
    try:
        ident = path.read_text().strip()
    except FileNotFoundError:
        ident = ""
    if not ident:
        ident = secrets.token_hex(8)
        temporary = directory / "id.tmp"
        temporary.write_text(ident + "\n")
        os.replace(temporary, path)
        sync_directory(directory)
    return ident


class Journal(Protocol):
    ident: str
    dropped: int

    def append(self, records: list[bytes]) -> int: ...
    def read(self, start: int, max_records: int) -> list[bytes]: ...
    def commit_to(self, index: int) -> None: ...
    @property
    def head(self) -> int: ...
    @property
    def end(self) -> int: ...
    def __len__(self) -> int: ...
    def close(self) -> None: ...


class MemoryJournal:
    """A journal that dies with the daemon: for a daemon run without a spool directory."""

    def __init__(self, max_records: int) -> None:
        self.ident = secrets.token_hex(8)
        self.max_records = max_records
        self.dropped = 0
        self._records: deque[bytes] = deque()
        self._head = 0

    def append(self, records: list[bytes]) -> int:
        # Refusing the newest keeps the journal one contiguous run.
        stored = records[: max(0, self.max_records - len(self._records))]
        self._records.extend(stored)
        self.dropped += len(records) - len(stored)
        return len(stored)

    def read(self, start: int, max_records: int) -> list[bytes]:
        offset = max(0, start - self._head)
        return list(islice(self._records, offset, offset + max_records))

    def commit_to(self, index: int) -> None:
        while self._head < index and self._records:
            self._records.popleft()
            self._head += 1

    @property
    def head(self) -> int:
        return self._head

    @property
    def end(self) -> int:
        return self._head + len(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def close(self) -> None:
        pass
