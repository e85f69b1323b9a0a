"""Dials that remember what they sent, a daemon's connection with journals, recorders, and the CSV check."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from microdial.daemon import mqtt_sinks, publishing
from microdial.device.stamp import DialKey
from microdial.model import Sample
from microdial.mqtt.address import BrokerAddress
from microdial.mqtt.publisher import MqttPublisher
from microdial.mqtt.sink import MqttOptions, MqttSink
from microdial.recorder import RecorderSettings, record
from microdial.store.format import samples_file
from tests.host.support import csv_rows

RECORDERS = ("rec-a", "rec-b")
# Tests wait a second, not five, before sending the rest again to a recorder that stands still.
OPTIONS = MqttOptions(recorders=RECORDERS, resend_after=1.0, reconnect_max=0.5)


@dataclass
class Dial:
    """A dial as the daemon sees it: samples at rate_hz into its channel, each value a change."""

    session: str
    dial: str
    rate_hz: float = 100.0
    boot: str = field(default_factory=lambda: secrets.token_hex(4))
    sent: list[tuple[str, int]] = field(default_factory=list)  # (boot, seq)
    sink: MqttSink | None = None

    def sample(self, seq: int) -> Sample:
        return Sample(
            dial=self.dial,
            role=f"r{self.dial}",
            session=self.session,
            value=seq % 101 - 50,
            seq=seq,
            boot=self.boot,
            device_time=seq / self.rate_hz,
            host_time=time.time(),
            host_monotonic=time.monotonic(),
        )

    async def run(self, seconds: float) -> None:
        """Samples for `seconds`, on the dial's clock: a late tick sends what it owes."""
        assert self.sink is not None
        start, before = time.monotonic(), len(self.sent)
        while (elapsed := time.monotonic() - start) < seconds:
            owed = before + int(elapsed * self.rate_hz) - len(self.sent)
            batch = [self.sample(len(self.sent) + i) for i in range(max(0, owed))]
            self.sent.extend((self.boot, s.seq) for s in batch)
            self.sink.put_samples(batch)
            await asyncio.sleep(1 / self.rate_hz)


@contextlib.asynccontextmanager
async def daemon(
    address: BrokerAddress,
    session: str,
    journals: Path | None,
    dials: list[Dial],
    options: MqttOptions = OPTIONS,
    flush_timeout: float = 10.0,
) -> AsyncIterator[MqttPublisher]:
    """One daemon connection; each dial's channel has its journal under `journals`."""
    publisher = MqttPublisher(address, session, f"d{secrets.token_hex(3)}", options)
    make = mqtt_sinks(publisher, journals)
    async with publishing(publisher, flush_timeout) as connected:
        for dial in dials:
            sink = make(DialKey(session, dial.dial, f"r{dial.dial}"))
            assert isinstance(sink, MqttSink)
            dial.sink = sink
        try:
            yield connected
        finally:
            for dial in dials:
                if dial.sink is not None:
                    await dial.sink.close(flush_timeout)


@contextlib.asynccontextmanager
async def recorder(url: str, out: Path, session: str, ident: str) -> AsyncIterator[None]:
    ready = asyncio.Event()
    task = asyncio.create_task(
        record(
            RecorderSettings(broker=url, out=out, session=session, client_id=ident, reconnect_max=0.5),
            ready=ready,
        )
    )
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def recorded(out: Path, session: str, dial: str) -> list[tuple[str, int]]:
    path = out / session / samples_file(dial)
    if not path.exists():
        return []
    return [(row["boot"], int(row["seq"])) for row in csv_rows(path)]


def rows(out: Path, session: str, dial: str) -> int:
    path = out / session / samples_file(dial)
    return path.read_bytes().count(b"\n") - 1 if path.exists() else 0


async def complete(out: Path, dials: list[Dial], timeout: float = 60.0) -> None:
    """Every sample each dial sent is in the recorder's CSV once, in order: 0 lost, 0 duplicated."""
    deadline = time.monotonic() + timeout
    while not all(rows(out, d.session, d.dial) >= len(d.sent) for d in dials):
        if time.monotonic() > deadline:
            counts = ", ".join(f"{rows(out, d.session, d.dial)}/{len(d.sent)}" for d in dials)
            raise AssertionError(f"{out}: the recorder holds {counts} of what the dials sent")
        await asyncio.sleep(0.3)
    await asyncio.sleep(0.5)  # nothing more may come: a duplicate would show as an extra row
    for d in dials:
        assert recorded(out, d.session, d.dial) == d.sent, d.dial
