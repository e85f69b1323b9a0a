"""Publishing one dial to MQTT: a bounded in-order queue, one batch in flight, one task that reconnects.

A read from the dial that changes the value is sent from put_samples itself, in the loop step
that read it, when no batch is in flight; the broker's acknowledgement, in the step that reads
it, sends what became due meanwhile. So a stream of samples costs no task wakeups: the task
only connects, publishes status, events and the spool, and gives up on a batch the broker
leaves unacknowledged for publish_timeout. Samples leave the queue only once the broker
acknowledged them (QoS 1), so a broker that goes away loses nothing that fits the queue: after
reconnecting the same batches go out again, in order. A batch in flight at the moment of the
disconnect can reach subscribers twice; they de-duplicate by (dial, seq).

With a spool, samples taken while the broker is unreachable go to disk instead of
memory, and what waited in memory is spilled there when the connection drops, so they
also survive the daemon itself crashing; the next daemon for the same session and dial
publishes them first. Memory only fills while connected, so everything in it is newer
than everything in the spool: the spool drains first, then memory, and order holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from microdial.model import DialEvent, DialStatus, Sample, batch_json
from microdial.mqtt.address import BrokerAddress
from microdial.mqtt.client import (
    ClientOptions,
    ConnectRefused,
    Delivery,
    MqttClient,
    MqttError,
    Will,
    mqtt_client,
)
from microdial.mqtt.spool import Spool
from microdial.mqtt.topics import Channel, dial_topic
from microdial.sinks.base import Sink

log = logging.getLogger(__name__)


Protocol = Literal["auto", "3.1.1", "5"]


@dataclass(frozen=True, slots=True)
class MqttOptions:
    max_queue: int = 200_000  # samples; 33 min of one dial at 100 Hz
    max_batch: int = 500  # samples per message
    # A sample that changes the value is published at once (with everything queued before it);
    # a periodic repeat of an unchanged value waits at most this long, so repeats travel together.
    batch_window: float = 0.02
    publish_timeout: float = 5.0
    qos_samples: int = 1
    qos_status: int = 1
    qos_events: int = 1
    # auto: MQTT 5 where the broker speaks it, else 3.1.1 (amqtt, older brokers).
    protocol: Protocol = "auto"
    # A persistent session keeps in-flight QoS 1 state across reconnects on the broker's side.
    session_expiry: int = 3600
    ca_file: Path | None = None
    reconnect_min: float = 0.2
    reconnect_max: float = 5.0
    keepalive: int = 10


class MqttSink(Sink):
    def __init__(
        self,
        address: BrokerAddress,
        session: str,
        dial: str,
        options: MqttOptions | None = None,
        spool: Spool | None = None,
    ) -> None:
        self._spool = spool
        self._address = address
        self._session = session
        self._dial = dial
        self._options = options or MqttOptions()
        self._samples: deque[Sample] = deque()
        self._events: deque[DialEvent] = deque()
        self._status: DialStatus | None = None
        self._status_sent: DialStatus | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._dropped = 0
        self.connects = 0
        self.protocol: Protocol = self._options.protocol
        if self.protocol == "auto" and address.mqtt5 is False:
            self.protocol = "3.1.1"
        self.published = 0  # samples the broker acknowledged
        self._last_value: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._client: MqttClient | None = None  # while connected
        self._samples_topic = self._topic("samples")
        # Samples at the queue's head that were sent and await the broker's acknowledgement.
        self._in_flight = 0
        self._in_flight_since = 0.0
        # The queue holds samples that should be on their way: a change, or repeats whose window ran out.
        self._due = False
        self._sending = False

    # -- Sink -------------------------------------------------------------------------
    def put_samples(self, samples: Sequence[Sample]) -> None:
        spool = self._spool
        if spool is not None and not self.connected:
            self._to_spool(spool, samples)
            self._pending()
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

    def _send_now(self) -> None:
        """The queue is due: its head goes at once when the connection is free, else when it is."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()  # a change is taking the repeats waiting for their window along
        self._due = True
        self._send_if_free()

    def _send_if_free(self) -> None:
        client = self._client
        if client is None or self._in_flight or self._sending or self._spooled():
            return  # the acknowledgement, the task's drain, or the reconnect sends them
        try:
            self._send_due(client)
        except MqttError:
            self._wake.set()  # the connection just broke: run() finds out and keeps the samples

    def put_status(self, status: DialStatus) -> None:
        self._status = status
        self._pending()

    def put_event(self, event: DialEvent) -> None:
        if len(self._events) >= self._options.max_queue:
            self._dropped += 1
            return
        self._events.append(event)
        self._pending()

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
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        delay = self._options.reconnect_min
        while True:
            try:
                async with self._connect() as client:
                    self._client = client
                    self.connects += 1
                    if self.protocol == "auto":
                        self.protocol = "5"
                    delay = self._options.reconnect_min
                    log.info("dial %s: connected to broker %s", self._dial, self._address.url)
                    self._status_sent = None
                    await self._drain(client)
            except MqttError as err:
                if not self.connected and self.protocol == "auto" and _refused_protocol(err):
                    log.info(
                        "dial %s: broker %s does not speak MQTT 5; using 3.1.1", self._dial, self._address.url
                    )
                    self.protocol = "3.1.1"
                    continue
                if self.connected:
                    log.warning(
                        "dial %s: broker connection lost (%s); %d samples queued",
                        self._dial,
                        err,
                        self.queued,
                    )
                else:
                    log.debug("dial %s: broker %s not reachable: %s", self._dial, self._address.url, err)
            finally:
                self._client = None
                self._in_flight = 0
                self._due = True  # what stayed queued goes first after the reconnect
                self._spill()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._options.reconnect_max)

    async def close(self, timeout: float = 5.0) -> bool:
        """Publish what is pending and mark the dial offline; the caller cancels run() afterwards.

        What could not be published stays in the spool for the next daemon.
        """
        if self._status is not None:
            self.put_status(self._status.model_copy(update={"state": "offline", "host_time": time.time()}))
        flushed = await self.flush(timeout)
        if self._spool is not None:
            self._spool.close()
        return flushed

    # -- internals --------------------------------------------------------------------
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

    def _pending(self) -> None:
        self._idle.clear()
        self._wake.set()

    def _connect(self) -> MqttClient:
        options = self._options
        will = None
        if self._status is not None:
            offline = self._status.model_copy(update={"state": "offline"})
            will = Will(self._topic("status"), offline.model_dump_json(), qos=options.qos_status)
        return mqtt_client(
            self._address,
            ClientOptions(
                identifier=f"microdial-daemon-{self._session}-{self._dial}",
                protocol="3.1.1" if self.protocol == "3.1.1" else "5",
                persistent=True,
                session_expiry=options.session_expiry,
                will=will,
                ca_file=options.ca_file,
                keepalive=options.keepalive,
                timeout=options.publish_timeout,
            ),
        )

    def _topic(self, channel: Channel) -> str:
        return dial_topic(self._session, self._dial, channel)

    def _spooled(self) -> bool:
        return self._spool is not None and len(self._spool) > 0

    def _settle(self) -> None:
        """Idle, which flush() waits for, once nothing is queued, in flight or unpublished."""
        if not self._in_flight and not self.queued and not self._events and self._status is self._status_sent:
            self._idle.set()

    async def _drain(self, client: MqttClient) -> None:
        timeout = self._options.publish_timeout
        while True:
            self._wake.clear()
            await self._publish_pending(client)
            self._settle()
            if not self._in_flight:
                await self._wake.wait()
                continue
            waited = time.monotonic() - self._in_flight_since
            if waited >= timeout:
                raise MqttError(f"Operation timed out: no acknowledgement in {waited:.1f} s")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout - waited):
                    await self._wake.wait()

    async def _publish_pending(self, client: MqttClient) -> None:
        status = self._status
        if status is not None and status is not self._status_sent:
            await client.publish(
                self._topic("status"), status.model_dump_json(), qos=self._options.qos_status, retain=True
            )
            self._status_sent = status
        while self._events:
            await client.publish(
                self._topic("events"), self._events[0].model_dump_json(), qos=self._options.qos_events
            )
            self._events.popleft()
        spool = self._spool
        while spool is not None and len(spool):
            records = spool.peek(self._options.max_batch)
            # The records are Sample JSON already: join them rather than parse and re-encode.
            await client.publish(
                self._samples_topic,
                b'{"samples":[' + b",".join(records) + b"]}",
                qos=self._options.qos_samples,
            )
            spool.commit(len(records))
            self.published += len(records)
        self._send_due(client)

    def _send_due(self, client: MqttClient) -> None:
        """The queue's head (up to max_batch samples) onto the wire, while it is due and nothing is in flight."""
        self._sending = True  # a QoS 0 send completes inside client.send(): the loop goes on here
        try:
            while self._due and not self._in_flight and self._samples:
                count = min(len(self._samples), self._options.max_batch)
                # Repeats that arrive later wait for their own window rather than leave alone behind this.
                self._due = count < len(self._samples)
                payload = batch_json([self._samples[i] for i in range(count)])
                self._in_flight, self._in_flight_since = count, time.monotonic()
                try:
                    client.send(
                        self._samples_topic, payload, self._options.qos_samples, on_done=self._delivered
                    )
                except MqttError:
                    self._in_flight, self._due = 0, True
                    raise
        finally:
            self._sending = False

    def _delivered(self, delivery: Delivery, error: Exception | None) -> None:
        count, self._in_flight = self._in_flight, 0
        if error is not None:
            self._due = True
            self._wake.set()  # run() reconnects; the batch stays at the queue's head
            return
        # Only now: anything queued meanwhile sits behind these, so order holds.
        for _ in range(count):
            self._samples.popleft()
        self.published += count
        if self._due:
            self._send_if_free()
        self._settle()


def _refused_protocol(err: MqttError) -> bool:
    """The broker refused the MQTT 5 CONNECT, or never answered it (brokers that only speak 3.1.1)."""
    return isinstance(err, ConnectRefused) or "timed out" in str(err)
