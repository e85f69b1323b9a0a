"""The byte transport interface every dial connection implements (serial, HID, ...)."""

from __future__ import annotations

import abc
import asyncio
from collections import deque


class Transport(abc.ABC):
    """A byte pipe to one dial. Bytes carry the wire format of protocol/SPEC.md.

    read() waits for bytes and raises TransportError when the device is gone (unplugged,
    port closed); the caller then closes the transport and opens a new one when the
    device returns.
    """

    #: Where the dial is: a device path, a HID path; shown in logs and status.
    location: str

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def read(self) -> bytes:
        """At least one byte, waiting as long as needed."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


class ChunkQueue:
    """Bytes (or the error that ended them) handed over by a reader, read in arrival order.

    A deque and one waiter rather than asyncio.Queue: at 64 dials × 100 Hz every chunk is a
    wake-up, and the queue's bookkeeping was a tenth of the daemon's CPU.
    """

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    def put(self, item: bytes | BaseException) -> None:
        if isinstance(item, BaseException):
            self._error = self._error or item
        else:
            self._chunks.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> bytes:
        """What arrived, joined: fewer, larger decoder calls under load. Raises the error that
        ended the stream once the bytes before it are read."""
        while not self._chunks:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        return data
