"""A sink that keeps everything in lists: for tests and in-process consumers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from microdial.model import DialEvent, DialStatus, Sample
from microdial.sinks.base import Sink


class MemorySink(Sink):
    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.statuses: list[DialStatus] = []
        self.events: list[DialEvent] = []
        self.changed = asyncio.Event()

    def put_samples(self, samples: Sequence[Sample]) -> None:
        self.samples.extend(samples)
        self.changed.set()

    def put_status(self, status: DialStatus) -> None:
        self.statuses.append(status)
        self.changed.set()

    async def run(self) -> None:
        await asyncio.Event().wait()

    def put_event(self, event: DialEvent) -> None:
        self.events.append(event)
        self.changed.set()
