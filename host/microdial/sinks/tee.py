"""One dial's output fanned out to several sinks (e.g. MQTT and LSL with `microdial daemon --lsl`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from microdial.device.stamp import DialKey
from microdial.model import DialEvent, DialStatus, Sample
from microdial.sinks.base import Sink


class TeeSink(Sink):
    """Gives everything to each of its sinks, in order. The first sink is the one whose delivery
    counts (queued, dropped): the durable path, MQTT; the others are live views of the same data."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        if not sinks:
            raise ValueError("a TeeSink needs at least one sink")
        self.sinks = list(sinks)

    def put_samples(self, samples: Sequence[Sample]) -> None:
        for sink in self.sinks:
            sink.put_samples(samples)

    def put_status(self, status: DialStatus) -> None:
        for sink in self.sinks:
            sink.put_status(status)

    def put_event(self, event: DialEvent) -> None:
        for sink in self.sinks:
            sink.put_event(event)

    async def run(self) -> None:
        # One sink failing ends them all, so the runner's restart covers every sink.
        async with asyncio.TaskGroup() as group:
            for sink in self.sinks:
                group.create_task(sink.run())

    async def flush(self, timeout: float) -> bool:
        results = await asyncio.gather(*(sink.flush(timeout) for sink in self.sinks))
        return all(results)

    async def close(self, timeout: float) -> bool:
        results = await asyncio.gather(*(sink.close(timeout) for sink in self.sinks))
        return all(results)

    @property
    def queued(self) -> int:
        return self.sinks[0].queued

    @property
    def dropped(self) -> int:
        return self.sinks[0].dropped


def tee_sinks(*makers: Callable[[DialKey], Sink]) -> Callable[[DialKey], Sink]:
    """A sink factory that gives each dial one sink from each of makers, fanned out by a TeeSink."""

    def make(key: DialKey) -> Sink:
        return TeeSink([maker(key) for maker in makers])

    return make
