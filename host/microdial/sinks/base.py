"""Where stamped samples, status and events go: MQTT, memory (tests), ..."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from microdial.model import DialEvent, DialStatus, Sample


class Sink(abc.ABC):
    """Receives one dial's output. put_* never block the dial's read loop."""

    @abc.abstractmethod
    def put_samples(self, samples: Sequence[Sample]) -> None:
        """The samples one read from the dial gave, in order (so a sink can send them together)."""

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
