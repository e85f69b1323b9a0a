"""Where stamped samples, status and events go: MQTT, memory (tests), ..."""

from __future__ import annotations

import abc

from microdial.payloads import DialEvent, DialStatus, Sample


class Sink(abc.ABC):
    """Receives one dial's output. put_* never block the dial's read loop."""

    @abc.abstractmethod
    def put_sample(self, sample: Sample) -> None: ...

    @abc.abstractmethod
    def put_status(self, status: DialStatus) -> None: ...

    @abc.abstractmethod
    def put_event(self, event: DialEvent) -> None: ...

    @abc.abstractmethod
    async def run(self) -> None:
        """Deliver until cancelled (a sink that needs a connection keeps it here)."""

    async def flush(self, timeout: float) -> bool:
        """Deliver what is pending, waiting at most timeout seconds; True when nothing is left."""
        return True

    async def close(self, timeout: float) -> bool:
        """Deliver what is pending and say goodbye (e.g. mark the dial offline); then run() is cancelled."""
        return await self.flush(timeout)

    @property
    def queued(self) -> int:
        return 0

    @property
    def dropped(self) -> int:
        return 0
