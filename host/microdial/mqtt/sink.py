"""One dial's channel on the daemon's broker connection: a bounded in-order queue, one message in flight.

The daemon's MqttPublisher owns the connection; each dial gets one of these. A dial has at most
one message in flight at a time — its status, then its events, then its samples (the spool's,
then memory's) — and sends the next from the broker's acknowledgement, in the loop step that
read it. So dials never wait for one another: a dial draining a long spool has one batch on the
wire, and another dial's fresh sample goes out beside it, not behind it.

A read from the dial that changes the value is sent from put_samples itself, in the loop step
that read it, when nothing of the dial is in flight; a periodic repeat of an unchanged value
waits at most batch_window, so repeats travel together. A stream of samples costs no task
wakeups. Samples leave the queue only once the broker acknowledged them (QoS 1), so a broker
that goes away loses nothing that fits the queue: after reconnecting the same batches go out
again, in order. A batch in flight at the moment of the disconnect can reach subscribers twice;
they de-duplicate by (dial, seq).

With a spool, samples taken while the broker is unreachable go to disk instead of memory, and
what waited in memory is spilled there when the connection drops, so they also survive the
daemon itself crashing; the next daemon for the same session and dial publishes them first.
Memory only fills while connected, so everything in it is newer than everything in the spool:
the spool drains first, then memory, and order holds.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from microdial.model import DialEvent, DialStatus, Sample, batch_json
from microdial.mqtt.client import Delivery, MqttClient, MqttError
from microdial.mqtt.spool import Spool
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
    ca_file: Path | None = None
    reconnect_min: float = 0.2
    reconnect_max: float = 5.0
    keepalive: int = 10
    # QoS 1/2 messages the connection has unacknowledged at once; paho holds back the rest, in
    # order. MQTT 5 forbids more than the broker's Receive Maximum, which Mosquitto sets to its
    # max_inflight_messages (20 unless configured; 2.0.11 grants 20 in its CONNACK). Each dial
    # has one message in flight, so beyond 20 dials the rest wait an acknowledgement or two:
    # a broker configured with more lets this grow with it.
    max_inflight: int = 20


Kind = Literal["status", "event", "spool", "memory"]


@dataclass(slots=True)
class _Flight:
    """The dial's one message on its way to the broker."""

    kind: Kind
    topic: str
    payload: bytes | str
    qos: int
    retain: bool = False
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
        spool: Spool | None = None,
        *,
        daemon: str | None = None,
        on_lost: Callable[[Exception], None] | None = None,
        on_close: Callable[[MqttSink], None] | None = None,
    ) -> None:
        self.dial = dial
        self._spool = spool
        self._options = options or MqttOptions()
        self._daemon = daemon
        self._on_lost = on_lost
        self._on_close = on_close
        self._samples: deque[Sample] = deque()
        self._events: deque[DialEvent] = deque()
        self._status: DialStatus | None = None
        self._status_sent: DialStatus | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._dropped = 0
        self.published = 0  # samples the broker acknowledged
        self._last_value: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._client: MqttClient | None = None  # while connected
        self._topics: dict[Channel, str] = {
            channel: dial_topic(session, dial, channel) for channel in ("samples", "status", "events")
        }
        self._in_flight: _Flight | None = None
        # The queue holds samples that should be on their way: a change, or repeats whose window ran out.
        self._due = False
        self._sending = False

    # -- Sink -------------------------------------------------------------------------
    def put_samples(self, samples: Sequence[Sample]) -> None:
        spool = self._spool
        if spool is not None and self._client is None:
            self._to_spool(spool, samples)
            self._idle.clear()
            return
        room = max(0, self._options.max_queue - len(self._samples))
        if len(samples) > room:
            # Refusing the newest keeps the queue a contiguous run from the outage's start,
            # and never touches the batch in flight at the queue's head.
            self._dropped += len(samples) - room
            samples = samples[:room]
        if not samples:
            return
        changed = False
        for sample in samples:
            changed = changed or sample.value != self._last_value
            self._last_value = sample.value
        self._samples.extend(samples)
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
        return len(self._samples) + (len(self._spool) if self._spool is not None else 0)

    @property
    def dropped(self) -> int:
        return self._dropped

    async def flush(self, timeout: float) -> bool:
        if self._idle.is_set():
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 5.0) -> bool:
        """Publish what is pending and mark the dial offline; the connection stays the publisher's.

        What could not be published stays in the spool for the next daemon.
        """
        deadline = time.monotonic() + timeout
        flushed = await self.flush(timeout)  # the samples first: "offline" is the dial's last word
        if self._status is not None:
            self.put_status(self._status.model_copy(update={"state": "offline", "host_time": time.time()}))
            flushed = await self.flush(max(0.0, deadline - time.monotonic())) and flushed
        if self._on_close is not None:
            self._on_close(self)
        self.detach()
        if self._spool is not None:
            self._spool.close()
        return flushed

    # -- the publisher's side -----------------------------------------------------------
    def attach(self, client: MqttClient) -> None:
        """A connection is up: send the status again, then whatever waits."""
        self._client = client
        self._status_sent = None
        self._pump()

    def detach(self) -> None:
        """The connection is gone: what was in flight goes again first, after the spool."""
        self._client = None
        self._in_flight = None
        self._due = True
        self._spill()

    @property
    def in_flight_since(self) -> float | None:
        """When the message now awaiting the broker's acknowledgement was sent (None: nothing is)."""
        return self._in_flight.since if self._in_flight is not None else None

    # -- internals --------------------------------------------------------------------
    def _send_now(self) -> None:
        """The queue is due: its head goes at once when nothing is in flight, else from the acknowledgement."""
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
                    if flight.kind == "memory":
                        self._due = True
                    self._lost(err)
                    break
        finally:
            self._sending = False
        self._settle()

    def _next(self) -> _Flight | None:
        """The dial's next message: its status, then its events, then its samples."""
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
        spool = self._spool
        if spool is not None and len(spool):
            records = spool.peek(options.max_batch)
            # The records are Sample JSON already: join them rather than parse and re-encode.
            payload = b'{"samples":[' + b",".join(records) + b"]}"
            return _Flight("spool", self._topics["samples"], payload, options.qos_samples, count=len(records))
        if self._due and self._samples:
            count = min(len(self._samples), options.max_batch)
            # Repeats that arrive later wait for their own window rather than leave alone behind this.
            self._due = count < len(self._samples)
            payload = batch_json([self._samples[i] for i in range(count)])
            return _Flight("memory", self._topics["samples"], payload, options.qos_samples, count=count)
        return None

    def _done(self, delivery: Delivery, error: Exception | None) -> None:
        flight = self._in_flight
        if flight is None or (flight.delivery is not None and flight.delivery is not delivery):
            return  # from a connection that is gone; what it carried goes again
        self._in_flight = None
        if error is not None:
            if flight.kind == "memory":
                self._due = True
            self._lost(error)
            return
        # Only now: anything queued meanwhile sits behind these, so order holds.
        if flight.kind == "status":
            self._status_sent = flight.status
        elif flight.kind == "event":
            self._events.popleft()
        elif flight.kind == "spool" and self._spool is not None:
            self._spool.commit(flight.count)
        else:
            for _ in range(flight.count):
                self._samples.popleft()
        self.published += flight.count
        self._pump()

    def _lost(self, error: Exception) -> None:
        if self._on_lost is not None:
            self._on_lost(error)  # the publisher reconnects; everything stays queued

    def _spill(self) -> None:
        """On losing the broker, what waits in memory goes to disk ahead of what follows."""
        spool = self._spool
        if spool is None or not self._samples:
            return
        self._to_spool(spool, self._samples)
        self._samples.clear()

    def _to_spool(self, spool: Spool, samples: Iterable[Sample]) -> None:
        records = [sample.model_dump_json().encode() for sample in samples]
        self._dropped += len(records) - spool.append(records)

    def _settle(self) -> None:
        """Idle, which flush() waits for, once nothing is queued, in flight or unpublished."""
        if (
            self._in_flight is None
            and not self.queued
            and not self._events
            and self._status is self._status_sent
        ):
            self._idle.set()
