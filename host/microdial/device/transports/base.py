"""The byte transport interface every dial connection implements (serial, HID, ...)."""

from __future__ import annotations

import abc
from typing import Protocol

from microdial.errors import TransportError


class Receiver(Protocol):
    """Where a transport hands what arrives, on the event loop, as asyncio protocols are.

    Bytes are pushed rather than awaited: a sample is decoded and on its way to the broker in the
    same loop step in which the port became readable, instead of one step later in a reading task.
    """

    def data_received(self, data: bytes) -> None: ...

    def connection_lost(self, error: TransportError) -> None:
        """The device is gone (unplugged, port closed); nothing arrives after this."""


class Transport(abc.ABC):
    """A byte pipe to one dial. Bytes carry the wire format of protocol/SPEC.md.

    After connection_lost the caller closes the transport and opens a new one when the device
    returns.
    """

    #: Where the dial is: a device path, a HID path; shown in logs and status.
    location: str

    @abc.abstractmethod
    async def open(self, receiver: Receiver) -> None:
        """Connect, then hand receiver every byte that arrives until connection_lost or close()."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...
