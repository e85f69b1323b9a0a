"""Many sites, one study: a site Mosquitto bridged to a central one through a link that can be cut,
daemon-like publishers at the site, and a tail on the central recorder's files.
Used by tests/lab/test_bridge.py and benchmarks/bench_bridge.py."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt

from microdial.broker_config.bridge import site_bridge
from microdial.embedded_broker import MosquittoProcess, free_port
from microdial.model import Sample, batch_json
from microdial.mqtt.address import BrokerAddress
from microdial.mqtt.topics import dial_topic
from microdial.recorder import RecorderSettings, record
from microdial.store.format import SAMPLE_COLUMNS, SessionMeta, samples_file
from tests.host.support import wait_for


class Link:
    """A TCP link (the WAN between a site and the centre) that can be cut and restored: while cut,
    every connection through it is closed and new ones are refused."""

    def __init__(self, target: BrokerAddress) -> None:
        self.target = target
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> BrokerAddress:
        return BrokerAddress(host="127.0.0.1", port=self.port)

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", self.port, reuse_address=True)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        # With their sockets closed, the connections' pipes end by themselves.
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target.host, self.target.port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()
        self._writers.discard(writer)


@contextlib.asynccontextmanager
async def two_sites(name: str = "site-a") -> AsyncIterator[tuple[MosquittoProcess, MosquittoProcess, Link]]:
    """(site broker, central broker, the link between them), the site bridged to the centre."""
    with MosquittoProcess() as central:
        link = Link(central.address)
        await link.restore()
        site = MosquittoProcess(listener=["allow_anonymous true", *site_bridge(name, link.address)])
        try:
            site.start()
            yield site, central, link
        finally:
            site.close()
            await link.cut()


class Dials:
    """`count` dials at `rate_hz`, each publishing a batch of `batch` samples every batch period
    at QoS 1 to the site broker, as daemons do; `sent[dial]` = samples published so far."""

    def __init__(self, session: str, count: int = 8, rate_hz: int = 100, batch: int = 2) -> None:
        self.session = session
        self.names = [f"D{n}" for n in range(count)]
        self.rate_hz = rate_hz
        self.batch = batch
        self.sent = dict.fromkeys(self.names, 0)

    def _samples(self, dial: str, first: int, now: float, wall: float) -> list[Sample]:
        return [
            Sample(
                dial=dial,
                role=f"r{dial}",
                session=self.session,
                value=(seq // 7) % 101 - 50,
                seq=seq,
                device_time=seq / self.rate_hz,
                host_time=now + wall - (first + self.batch - 1 - seq) / self.rate_hz,
                host_monotonic=now - (first + self.batch - 1 - seq) / self.rate_hz,
                media_time=seq / self.rate_hz,
                sync_uncertainty=0.0004,
                playback="playing",
                player="mpv",
                media="session.mp4",
            )
            for seq in range(first, first + self.batch)
        ]

    async def publish(self, broker: BrokerAddress, stop: asyncio.Event) -> None:
        period = self.batch / self.rate_hz
        wall = time.time() - time.monotonic()
        async with aiomqtt.Client(broker.host, broker.port, max_inflight_messages=200) as client:
            start = time.monotonic()
            tick = 0
            while not stop.is_set():
                tick += 1
                # The dials read on their own clock: stamps by schedule, however late this runs.
                now = start + tick * period
                await asyncio.sleep(max(0.0, now - time.monotonic()))
                publishes = []
                for dial in self.names:
                    payload = batch_json(self._samples(dial, self.sent[dial], now, wall))
                    publishes.append(
                        client.publish(dial_topic(self.session, dial, "samples"), payload, qos=1)
                    )
                    self.sent[dial] += self.batch
                await asyncio.gather(*publishes)


class Tail:
    """The seq column of a recorder's samples files, read as they grow (never re-read)."""

    _SEQ = SAMPLE_COLUMNS.index("seq")

    def __init__(self, folder: Path, dials: list[str]) -> None:
        self.paths = {dial: folder / samples_file(dial) for dial in dials}
        self._offsets = dict.fromkeys(dials, 0)
        self._partial = dict.fromkeys(dials, b"")
        self.seqs: dict[str, list[int]] = {dial: [] for dial in dials}

    def read(self) -> None:
        for dial, path in self.paths.items():
            if not path.exists():
                continue
            with path.open("rb") as handle:
                handle.seek(self._offsets[dial])
                new = handle.read()
            self._offsets[dial] += len(new)
            lines = (self._partial[dial] + new).split(b"\n")
            self._partial[dial] = lines.pop()
            for line in lines:
                cell = line.split(b",")[self._SEQ]
                if cell.isdigit():  # the header's "seq" is not
                    self.seqs[dial].append(int(cell))

    def has(self, counts: dict[str, int]) -> bool:
        """Whether every dial has at least counts[dial] samples."""
        self.read()
        return all(len(self.seqs[dial]) >= count for dial, count in counts.items())


@dataclass
class Outage:
    """What run_outage saw: samples published per dial, the centre's seqs per dial, catch-up time."""

    sent: dict[str, int]
    at_cut: dict[str, int]  # samples published when the link was cut
    crossed_while_cut: dict[str, int]  # samples at the centre during the outage beyond those at the cut
    seqs: dict[str, list[int]]
    reconnect: float  # from the link's return to the first sample crossing it (the bridge's backoff)
    catch_up: float
    duplicates_dropped: int

    def faults(self) -> list[str]:
        """Per dial, samples missing or recorded twice (empty when every sample is there once)."""
        found = []
        for dial, count in self.sent.items():
            got = self.seqs[dial]
            missing = sorted(set(range(count)) - set(got))
            twice = len(got) - len(set(got))
            if missing or twice:
                found.append(f"{dial}: missing {missing[:10]} ({len(missing)}), {twice} twice")
        return found

    def late(self) -> dict[str, list[tuple[int, int]]]:
        """Per dial, where a sample arrived after a later one: (the later one, the late one)."""
        steps = {
            dial: [(a, b) for a, b in itertools.pairwise(got) if b < a] for dial, got in self.seqs.items()
        }
        return {dial: found for dial, found in steps.items() if found}


async def run_outage(out: Path, session: str, outage: float, dials: Dials, warmup: float = 1.0) -> Outage:
    """Dials publish at the site, recorded at the centre (`microdial record`'s loop); after `warmup`
    seconds of samples at the centre the link is cut for `outage` seconds, then restored; catch-up
    is from the restore until the centre has every sample published before it. The dials go on
    2 s more, then stop, and the centre gets the rest."""
    tail = Tail(out / session, dials.names)
    async with two_sites() as (site, central, link):
        ready = asyncio.Event()
        settings = RecorderSettings(broker=central.url, out=out, session=session, client_id="central-rec")
        recorder = asyncio.create_task(record(settings, ready=ready))
        await asyncio.wait_for(ready.wait(), 10)
        stop = asyncio.Event()
        publishing = asyncio.create_task(dials.publish(site.address, stop))
        try:
            warm = dict.fromkeys(dials.names, round(warmup * dials.rate_hz))
            await wait_for(lambda: tail.has(warm), 30, "samples through the bridge")
            await link.cut()
            at_cut = dict(dials.sent)
            await asyncio.sleep(outage)
            tail.read()
            crossed = {d: len(tail.seqs[d]) - at_cut[d] for d in dials.names}
            held = dict(dials.sent)
            await link.restore()
            restored = time.monotonic()
            before = {d: len(tail.seqs[d]) + 1 for d in dials.names}
            await wait_for(lambda: tail.has(before), 600, "the bridge to reconnect")
            reconnect = time.monotonic() - restored
            await wait_for(lambda: tail.has(held), 600, "the centre to catch up")
            catch_up = time.monotonic() - restored
            await asyncio.sleep(2.0)
            stop.set()
            await publishing
            await wait_for(lambda: tail.has(dials.sent), 120, "the last samples")
        finally:
            stop.set()
            recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recorder
    tail.read()
    meta = SessionMeta.load(out / session)
    return Outage(
        sent=dict(dials.sent),
        at_cut=at_cut,
        crossed_while_cut=crossed,
        seqs=tail.seqs,
        reconnect=reconnect,
        catch_up=catch_up,
        duplicates_dropped=sum(m.duplicates_dropped for m in meta.dials.values()),
    )
