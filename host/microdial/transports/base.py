"""The byte transport interface every dial connection implements (serial, HID, ...)."""

from __future__ import annotations

import abc
import asyncio


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
    """Bytes (or the error that ended them) handed over by a reader, read in arrival order."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue()

    def put(self, item: bytes | BaseException) -> None:
        self._queue.put_nowait(item)

    async def get(self) -> bytes:
        """What arrived, joined: fewer, larger decoder calls under load. Raises a queued error."""
        chunk = await self._queue.get()
        if isinstance(chunk, BaseException):
            raise chunk
        parts = [chunk]
        while not self._queue.empty():
            more = self._queue.get_nowait()
            if isinstance(more, BaseException):
                self._queue.put_nowait(more)  # raised by the next get(), after these bytes
                break
            parts.append(more)
        return b"".join(parts)
