"""One dial's channel on the daemon's broker connection: its journal, one message in flight.

The daemon's MqttPublisher owns the connection; each dial gets one of these. A dial has at most
one message in flight at a time — its status, then its events, then replays a recorder asked
for, then its fresh samples — and sends the next from the broker's acknowledgement, in the loop
step that read it. So dials never wait for one another.

Every sample goes into the dial's journal (microdial.mqtt.journal) first and is sent from
there, as a batch that names its place in the journal (journal id, first index). The broker's
acknowledgement moves the send cursor on; the record stays in the journal until every recorder
the daemon waits for confirmed it (protocol/SPEC.md 3.5), or, with none configured, until the
broker acknowledged it. A recorder that finds a gap asks for exactly that range, which is sent
again from the journal; one whose confirmation stands still behind what was sent while it is
alive (it confirms every second) is sent the rest again: that covers what a broker that forgot
its session delivered to nobody. So a broker or recorder going away loses nothing while the
daemon's disk holds; a journal left by an earlier daemon is sent first by the next one.

A read from the dial that changes the value is sent from put_samples itself, in the loop step
that read it, when nothing of the dial is in flight; a periodic repeat of an unchanged value
waits at most batch_window, so repeats travel together.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from microdial.model import DialEvent, DialStatus, Sample
from microdial.mqtt.client import Delivery, MqttClient, MqttError
from microdial.mqtt.journal import Journal, MemoryJournal
from microdial.mqtt.topics import Channel, dial_topic
from microdial.sinks.base import Sink

ProtocolChoice = Literal["auto", "3.1.1", "5"]


@dataclass(frozen=True, slots=True)
class MqttOptions:
    max_queue: int = 200_000  # samples per dial; 33 min of one dial at 100 Hz
    max_batch: int = 500  # samples per message
    # A sample that changes the value is published at once (with everything queued before it);
    # a periodic repeat of an unchanged value waits at most this long, so repeats travel together.
    batch_window: float = 0.02
    publish_timeout: float = 5.0
    qos_samples: int = 1
    qos_status: int = 1
    qos_events: int = 1
    # auto: MQTT 5 where the broker speaks it, else 3.1.1 (amqtt, older brokers).
    protocol: ProtocolChoice = "auto"
    # A persistent session keeps in-flight QoS 1 state across reconnects on the broker's side.
    session_expiry: int = 3600
    reconnect_min: float = 0.2
    reconnect_max: float = 5.0
    keepalive: int = 10
    # QoS 1/2 messages the connection has unacknowledged at once; paho holds back the rest, in
    # order. MQTT 5 forbids more than the broker's Receive Maximum, which Mosquitto sets to its
    # max_inflight_messages (20 unless configured; 2.0.11 grants 20 in its CONNACK). Each dial
    # has one message in flight, so beyond 20 dials the rest wait an acknowledgement or two:
    # a broker configured with more lets this grow with it.
    max_inflight: int = 20
    # The recorders whose confirmations the journal waits for (protocol/SPEC.md 3.5); none: a
    # sample leaves the journal once the broker acknowledged it.
    recorders: tuple[str, ...] = ()
    # A live recorder whose confirmation stood still this long behind what was sent is sent the rest again.
    resend_after: float = 5.0


Kind = Literal["status", "event", "samples", "replay"]


@dataclass(slots=True)
class _Flight:
    """The dial's one message on its way to the broker."""

    kind: Kind
    topic: str
    payload: bytes | str
    qos: int
    retain: bool = False
    first: int = 0  # journal index of its first sample
    count: int = 0  # samples in it
    status: DialStatus | None = None
    since: float = 0.0
    delivery: Delivery | None = None  # None until send() returned


class MqttSink(Sink):
    def __init__(
        self,
        session: str,
        dial: str,
        options: MqttOptions | None = None,
        journal: Journal | None = None,
        *,
        daemon: str | None = None,
        on_lost: Callable[[Exception], None] | None = None,
        on_close: Callable[[MqttSink], None] | None = None,
    ) -> None:
        self.session = session
        self.dial = dial
        self._options = options or MqttOptions()
        self.journal: Journal = journal if journal is not None else MemoryJournal(self._options.max_queue)
        self._daemon = daemon
        self._on_lost = on_lost
        self._on_close = on_close
        self._events: deque[DialEvent] = deque()
        self._status: DialStatus | None = None
        self._status_sent: DialStatus | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._dropped = 0
        self.published = 0  # samples the broker acknowledged, replays included
        self.replayed = 0
        self._last_value: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._client: MqttClient | None = None  # while connected
        self._topics: dict[Channel, str] = {
            channel: dial_topic(session, dial, channel) for channel in ("samples", "status", "events")
        }
        self._in_flight: _Flight | None = None
        # Every journal record below this index reached the broker.
        self._sent = self.journal.head
        # The journal holds samples that should be on their way: a change, or repeats whose window ran out.
        self._due = len(self.journal) > 0
        self._sending = False
        # Ranges asked for: [asked, stop), of which [next, stop) is still to send.
        self._replays: deque[tuple[int, int, int]] = deque()  # (asked, next, stop)
        self._confirmed: dict[str, int] = {}  # recorder -> every index below it confirmed
        self._moved: dict[str, float] = {}  # recorder -> when its confirmation last moved (or was answered)
        self._heard: dict[str, float] = {}  # recorder -> when it last confirmed anything on this dial

    # -- Sink -------------------------------------------------------------------------
    def put_samples(self, samples: Sequence[Sample]) -> None:
        if not samples:
            return
        records = [sample.model_dump_json().encode() for sample in samples]
        stored = self.journal.append(records)
        # Refusing the newest (a full disk, or memory's count) keeps the journal one contiguous run.
        self._dropped += len(records) - stored
        if not stored:
            return
        changed = False
        for sample in samples[:stored]:
            changed = changed or sample.value != self._last_value
            self._last_value = sample.value
        self._idle.clear()
        if changed or self._options.batch_window <= 0:
            self._send_now()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._options.batch_window, self._send_now)

    def put_status(self, status: DialStatus) -> None:
        if self._daemon is not None:
            status = status.model_copy(update={"daemon": self._daemon})
        self._status = status
        self._idle.clear()
        self._pump()

    def put_event(self, event: DialEvent) -> None:
        if len(self._events) >= self._options.max_queue:
            self._dropped += 1
            return
        self._events.append(event)
        self._idle.clear()
        self._pump()

    async def run(self) -> None:
        # The publisher delivers on its connection; a dial's task has nothing to do here.
        await asyncio.get_running_loop().create_future()

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def queued(self) -> int:
        """Samples in the journal: not yet sent, or not yet confirmed by every recorder waited for."""
        return len(self.journal)

    @property
    def unsent(self) -> int:
        return max(0, self.journal.end - self._sent)

    @property
    def dropped(self) -> int:
        return self._dropped

    async def flush(self, timeout: float) -> bool:
        """Wait until everything reached the broker (the journal keeps it until it is confirmed)."""
        if self._idle.is_set():
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 5.0) -> bool:
        """Publish what is pending and mark the dial offline; the connection stays the publisher's.

        What is not confirmed stays in the journal for the next daemon.
        """
        deadline = time.monotonic() + timeout
        flushed = await self.flush(timeout)  # the samples first: "offline" is the dial's last word
        if self._status is not None:
            self.put_status(self._status.model_copy(update={"state": "offline", "host_time": time.time()}))
            flushed = await self.flush(max(0.0, deadline - time.monotonic())) and flushed
        if self._on_close is not None:
            self._on_close(self)
        self.detach()
        self.journal.close()
        return flushed

    # -- the publisher's side -----------------------------------------------------------
    def attach(self, client: MqttClient) -> None:
        """A connection is up: send the status again, then whatever waits."""
        self._client = client
        self._status_sent = None
        self._pump()

    def detach(self) -> None:
        """The connection is gone: what was in flight goes again (the journal still has it)."""
        self._client = None
        self._in_flight = None
        self._due = True

    @property
    def in_flight_since(self) -> float | None:
        """When the message now awaiting the broker's acknowledgement was sent (None: nothing is)."""
        return self._in_flight.since if self._in_flight is not None else None

    def confirmed(self, recorder: str, journals: Mapping[str, int], now: float) -> None:
        """A recorder's confirmation of this dial: per journal id, every index below the value."""
        if recorder not in self._options.recorders:
            return
        self._heard[recorder] = now
        self._moved.setdefault(recorder, now)
        upto = journals.get(self.journal.ident)
        if upto is not None and upto > self._confirmed.get(recorder, -1):
            self._confirmed[recorder] = upto
            self._moved[recorder] = now
            self._commit()

    def replay(self, journal: str, start: int, stop: int) -> None:
        """A recorder asks again for the records [start, stop) of a journal."""
        if journal != self.journal.ident or start >= stop:
            return
        if any(asked <= start and stop <= end for asked, _, end in self._replays):
            return  # asked again while on its way: sending it twice would only slow the catch-up
        self._replays.append((start, start, stop))
        self._pump()

    def check(self, now: float) -> None:
        """Sends the rest again to a live recorder whose confirmation stands still behind what was sent."""
        wait = self._options.resend_after
        for recorder in self._options.recorders:
            heard = self._heard.get(recorder)
            # A live recorder confirms every sync (0.5 s); one silent for longer than this is away,
            # and resending now would only fill the broker's queue for it.
            if heard is None or now - heard > max(wait / 2, 1.0):
                continue
            confirmed = max(self._confirmed.get(recorder, 0), self.journal.head)
            if confirmed < self._sent and now - self._moved.get(recorder, now) >= wait and not self._replays:
                self._moved[recorder] = now
                self.replay(self.journal.ident, confirmed, self._sent)

    # -- internals --------------------------------------------------------------------
    def _commit(self) -> None:
        recorders = self._options.recorders
        upto = min(self._confirmed.get(r, 0) for r in recorders) if recorders else self._sent
        self.journal.commit_to(min(upto, self._sent))

    def _send_now(self) -> None:
        """The journal is due: its head goes at once when nothing is in flight, else from the acknowledgement."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()  # a change is taking the repeats waiting for their window along
        self._due = True
        self._pump()

    def _pump(self) -> None:
        """While nothing of this dial is in flight, send the next message it has."""
        client = self._client
        if client is None or self._sending:
            return  # not connected; or a QoS 0 send completed inside send(): the loop below goes on
        self._sending = True
        try:
            while self._in_flight is None and self._client is client:
                flight = self._next()
                if flight is None:
                    break
                flight.since = time.monotonic()
                self._in_flight = flight
                try:
                    flight.delivery = client.send(
                        flight.topic, flight.payload, flight.qos, flight.retain, on_done=self._done
                    )
                except MqttError as err:
                    self._in_flight = None
                    self._due = True
                    self._lost(err)
                    break
        finally:
            self._sending = False
        self._settle()

    def _next(self) -> _Flight | None:
        """The dial's next message: its status, then its events, then replays, then its samples."""
        options = self._options
        status = self._status
        if status is not None and status is not self._status_sent:
            return _Flight(
                "status",
                self._topics["status"],
                status.model_dump_json(),
                options.qos_status,
                True,
                status=status,
            )
        if self._events:
            return _Flight(
                "event", self._topics["events"], self._events[0].model_dump_json(), options.qos_events
            )
        journal = self.journal
        self._sent = max(self._sent, journal.head)
        while self._replays:
            asked, start, stop = self._replays[0]
            # Only what went out already: the rest is on its way as fresh samples.
            start, stop = max(start, journal.head), min(stop, self._sent)
            records = journal.read(start, min(options.max_batch, stop - start)) if start < stop else []
            if not records:
                self._replays.popleft()
                continue
            if start + len(records) < stop:
                self._replays[0] = (asked, start + len(records), stop)
            else:
                self._replays.popleft()
            return self._batch("replay", start, records)
        if self._due and self._sent < journal.end:
            records = journal.read(self._sent, options.max_batch)
            # Repeats that arrive later wait for their own window rather than leave alone behind this.
            self._due = self._sent + len(records) < journal.end
            return self._batch("samples", self._sent, records)
        return None

    def _batch(self, kind: Kind, first: int, records: list[bytes]) -> _Flight:
        # The records are Sample JSON already: join them rather than parse and re-encode.
        payload = (
            b'{"samples":['
            + b",".join(records)
            + (f'],"journal":"{self.journal.ident}","first":{first},"head":{self.journal.head}}}'.encode())
        )
        return _Flight(
            kind, self._topics["samples"], payload, self._options.qos_samples, first=first, count=len(records)
        )

    def _done(self, delivery: Delivery, error: Exception | None) -> None:
        flight = self._in_flight
        if flight is None or (flight.delivery is not None and flight.delivery is not delivery):
            return  # from a connection that is gone; what it carried goes again
        self._in_flight = None
        if error is not None:
            self._due = True
            self._lost(error)
            return
        if flight.kind == "status":
            self._status_sent = flight.status
        elif flight.kind == "event":
            self._events.popleft()
        elif flight.kind == "replay":
            self.replayed += flight.count
        else:
            self._sent = max(self._sent, flight.first + flight.count)
            self.published += flight.count
            self._commit()
        self._pump()

    def _lost(self, error: Exception) -> None:
        if self._on_lost is not None:
            self._on_lost(error)  # the publisher reconnects; everything stays in the journal

    def _settle(self) -> None:
        """Idle, which flush() waits for, once everything reached the broker."""
        if (
            self._in_flight is None
            and not self.unsent
            and not self._events
            and self._status is self._status_sent
        ):
            self._idle.set()
