"""The daemon's one broker connection: every dial's channel and the control topic ride on it.

One connection has one will, so the daemon has a retained status of its own
(microdial/v1/<session>/daemon/<daemon>, protocol/SPEC.md section 3) that the will sets offline;
each dial's status names its daemon, and readers take a dial as offline while its daemon is
(microdial.mqtt.presence). The connection is re-made with the shared Backoff; after each connect
the daemon's status goes first, then the control subscriptions, then every dial's channel
resumes where it stopped (microdial.mqtt.sink), each with its own queue and spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ValidationError

from microdial.backoff import Backoff
from microdial.model import Confirmation, DaemonStatus, ReplayRequest
from microdial.mqtt.address import BrokerAddress, ConnectionReport
from microdial.mqtt.client import (
    UNSUPPORTED_PROTOCOL,
    ClientOptions,
    ConnectRefused,
    MqttClient,
    MqttError,
    SubscriptionRefused,
    Will,
    mqtt_client,
)
from microdial.mqtt.journal import Journal
from microdial.mqtt.sink import MqttOptions, MqttSink, ProtocolChoice
from microdial.mqtt.topics import daemon_topic, delivery_subscriptions, parse_delivery_topic

log = logging.getLogger(__name__)


def default_daemon_id() -> str:
    """The host's name as a code: stable across restarts, so a restarted daemon takes its place."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:64] or "daemon"


@dataclass(eq=False)
class Listener:
    """A subscription that lives as long as the publisher: made again on every connection."""

    topic: str
    qos: int
    messages: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    # Set while the broker has the subscription.
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class MqttPublisher:
    def __init__(
        self,
        address: BrokerAddress,
        session: str,
        daemon: str | None = None,
        options: MqttOptions | None = None,
    ) -> None:
        self.address = address
        self.session = session
        self.daemon = daemon or default_daemon_id()
        self.options = options or MqttOptions()
        self.protocol: ProtocolChoice = self.options.protocol
        if self.protocol == "auto" and address.mqtt5 is False:
            self.protocol = "3.1.1"
        self.connects = 0
        self._sinks: dict[tuple[str, str], MqttSink] = {}  # (session, dial)
        # Sessions whose confirmations and replay requests are read: this one, and those of
        # journals an earlier daemon left.
        self._sessions: set[str] = {session}
        self._takeovers = 0  # connections in a row the broker closed at once
        self._listeners: dict[str, Listener] = {}
        self._client: MqttClient | None = None
        self._lost = asyncio.Event()
        self._lost_error: Exception | None = None
        self._closing = asyncio.Event()
        self._running = False
        self._stopped = asyncio.Event()
        self._status_topic = daemon_topic(session, self.daemon)
        self._subscribing: set[asyncio.Task[None]] = set()  # listen() while connected
        self._report = ConnectionReport(f"daemon {self.daemon}", address)

    # -- what the daemon's parts call ---------------------------------------------------
    def sink(self, dial: str, journal: Journal | None = None, session: str | None = None) -> MqttSink:
        """The channel of one dial (with its own journal) on this connection; session: another
        session's, for a journal an earlier daemon left."""
        session = session or self.session
        sink = MqttSink(
            session,
            dial,
            self.options,
            journal,
            daemon=self.daemon,
            on_lost=self._on_lost,
            on_close=self._forget,
        )
        self._sinks[session, dial] = sink
        if session not in self._sessions:
            self._sessions.add(session)
            if self._client is not None:
                for topic in delivery_subscriptions(session):
                    self.listen_filter(self._client, topic)
        if self._client is not None:
            sink.attach(self._client)
        return sink

    @property
    def sinks(self) -> list[MqttSink]:
        return list(self._sinks.values())

    def listen_filter(self, client: MqttClient, topic: str) -> None:
        """Subscribe to a delivery filter now, in the background (again after each reconnect)."""
        self._subscribing.add(asyncio.create_task(self._subscribe(client, Listener(topic, 1))))

    def listen(self, topic: str, qos: int) -> Listener:
        """Messages on topic (an exact topic, no wildcards), subscribed again after each reconnect."""
        listener = self._listeners.get(topic)
        if listener is None:
            listener = self._listeners[topic] = Listener(topic, qos)
            if self._client is not None:
                self._subscribing.add(asyncio.create_task(self._subscribe(self._client, listener)))
        return listener

    async def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        """Publish once on the connection, if there is one (MqttError if not): replies, not data."""
        client = self._client
        if client is None:
            raise MqttError("not connected to the broker")
        await client.publish(topic, payload, qos=qos, retain=retain)

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def run(self) -> None:
        """Keep the connection until close(): connect, serve, reconnect with backoff."""
        self._running = True
        backoff = Backoff(self.options.reconnect_min, self.options.reconnect_max)
        try:
            while not self._closing.is_set():
                if await self._connection(backoff):
                    continue  # MQTT 5 refused: 3.1.1 at once
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), backoff.next())
        finally:
            self._running = False
            self._stopped.set()

    async def close(self, timeout: float = 10.0) -> bool:
        """Deliver what every dial has pending, mark the daemon offline, disconnect; run() returns.

        The dials' own goodbyes (MqttSink.close, from their runners) come first.
        """
        sinks = list(self._sinks.values())
        flushed = all(await asyncio.gather(*(sink.flush(timeout) for sink in sinks)))
        self._closing.set()
        if self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), timeout)
        for sink in self._sinks.values():
            sink.journal.close()  # journals no dial closed: those an earlier daemon left
        return flushed

    # -- internals --------------------------------------------------------------------
    async def _connection(self, backoff: Backoff) -> bool:
        """One connection, from connect to loss or close; True to retry at once with 3.1.1."""
        connected = False
        since = time.monotonic()
        try:
            async with self._connect() as client:
                connected = True
                if self.protocol == "auto":
                    self.protocol = "5"
                self.connects += 1
                backoff.reset()
                self._report.connected()
                log.info("daemon %s: connected to broker %s", self.daemon, self.address.url)
                since = time.monotonic()
                await self._online(client)
                await self._serve(client)
                # Closing: the dials said goodbye already; then the daemon, then a clean DISCONNECT
                # (leaving the context), which the broker answers by dropping the will.
                await client.publish(
                    self._status_topic, self._status("offline"), qos=self.options.qos_status, retain=True
                )
        except MqttError as err:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # Leaving the connection on a cancel can fail too; that must not swallow the cancel.
                raise asyncio.CancelledError from err
            if not connected and self.protocol == "auto" and _refused_protocol(err):
                log.info("broker %s does not speak MQTT 5; using 3.1.1", self.address.url)
                self.protocol = "3.1.1"
                return True
            if connected:
                self._taken_over(err, since)
                unsent = sum(sink.unsent for sink in self._sinks.values())
                log.warning("broker connection lost (%s); %d samples wait in the journals", err, unsent)
            else:
                self._report.failed(err)
        finally:
            self._client = None
            for listener in self._listeners.values():
                listener.ready.clear()
            for sink in self._sinks.values():
                sink.detach()
        return False

    async def _online(self, client: MqttClient) -> None:
        """The daemon's status first, then every dial resumes, then the subscriptions are made again."""
        await client.publish(
            self._status_topic, self._status("online"), qos=self.options.qos_status, retain=True
        )
        self._lost.clear()
        self._client = client  # from here listen() subscribes by itself
        for sink in list(self._sinks.values()):
            sink.attach(client)
        for listener in list(self._listeners.values()):
            await self._subscribe(client, listener)
        for session in sorted(self._sessions):
            for topic in delivery_subscriptions(session):
                await self._subscribe(client, Listener(topic, 1))

    async def _subscribe(self, client: MqttClient, listener: Listener) -> None:
        try:
            await client.subscribe(listener.topic, qos=listener.qos)
        except SubscriptionRefused as err:
            # The broker's ACL: no reconnect cures it, and commands would go unanswered in silence.
            log.error("daemon %s: %s; commands will not reach it (check the broker's ACL)", self.daemon, err)
        except MqttError as err:
            log.debug("subscribing to %s: %s; again after reconnecting", listener.topic, err)
        else:
            if self._client is client:
                listener.ready.set()
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._subscribing.discard(task)

    async def _serve(self, client: MqttClient) -> None:
        """Until close() (return) or the connection is lost or hangs (MqttError)."""
        reader = asyncio.create_task(self._read(client))
        lost = asyncio.create_task(self._lost.wait())
        closing = asyncio.create_task(self._closing.wait())
        check = min(1.0, self.options.publish_timeout / 2)
        try:
            while True:
                done, _ = await asyncio.wait(
                    (reader, lost, closing), timeout=check, return_when=asyncio.FIRST_COMPLETED
                )
                if reader in done:
                    reader.result()
                    raise MqttError("Disconnected")
                if lost in done:
                    raise self._lost_error or MqttError("Connection lost")
                if closing in done:
                    return
                self._check_acknowledgements()
                now = time.monotonic()
                for sink in list(self._sinks.values()):
                    sink.check(now)
        finally:
            for task in (reader, lost, closing):
                task.cancel()
            await asyncio.gather(reader, lost, closing, return_exceptions=True)

    async def _read(self, client: MqttClient) -> None:
        # Iterating also tells of a lost connection (MqttError) when nothing is subscribed.
        async for message in client.messages:
            delivery = parse_delivery_topic(message.topic)
            if delivery is not None:
                self._delivery(delivery.session, delivery.dial, delivery.kind, message.payload)
                continue
            listener = self._listeners.get(str(message.topic))
            if listener is not None and isinstance(message.payload, bytes):
                listener.messages.put_nowait(message.payload)

    def _delivery(self, session: str, dial: str, kind: str, payload: bytes) -> None:
        """A recorder's confirmation or replay request, to the dial's channel."""
        sink = self._sinks.get((session, dial))
        if sink is None or not payload:
            return  # not this daemon's dial, or a cleared retained confirmation
        try:
            if kind == "confirmed":
                confirmation = Confirmation.model_validate_json(payload)
                sink.confirmed(confirmation.recorder, confirmation.journals, time.monotonic())
            else:
                request = ReplayRequest.model_validate_json(payload)
                sink.replay(request.journal, request.start, request.stop)
        except ValidationError as err:
            log.warning("ignored a bad %s payload for %s/%s: %s", kind, session, dial, err.errors()[0]["msg"])

    def _taken_over(self, err: MqttError, since: float) -> None:
        """Another client with this daemon's id takes the connection over: one line, once, that says so."""
        if "taken over" not in str(err) and time.monotonic() - since > 2.0:
            self._takeovers = 0
            return
        self._takeovers += 1
        if self._takeovers == 2 or ("taken over" in str(err) and self._takeovers == 1):
            log.error(
                "daemon id %s of session %s is in use by another daemon on broker %s, which takes "
                "the connection over (%s): give each daemon of a session its own --daemon-id",
                self.daemon,
                self.session,
                self.address.url,
                err,
            )

    def _check_acknowledgements(self) -> None:
        """A broker that takes messages but never acknowledges (hung) is left for a new connection."""
        sent = [s for s in (sink.in_flight_since for sink in self._sinks.values()) if s is not None]
        if not sent:
            return
        waited = time.monotonic() - min(sent)
        if waited >= self.options.publish_timeout:
            raise MqttError(f"Operation timed out: no acknowledgement in {waited:.1f} s")

    def _on_lost(self, error: Exception) -> None:
        self._lost_error = error
        self._lost.set()

    def _forget(self, sink: MqttSink) -> None:
        if self._sinks.get((sink.session, sink.dial)) is sink:
            del self._sinks[sink.session, sink.dial]

    def _status(self, state: Literal["online", "offline"]) -> str:
        return DaemonStatus(
            daemon=self.daemon, session=self.session, state=state, host_time=time.time()
        ).model_dump_json()

    def _connect(self) -> MqttClient:
        options = self.options
        will = DaemonStatus(daemon=self.daemon, session=self.session, state="offline").model_dump_json()
        return mqtt_client(
            self.address,
            ClientOptions(
                identifier=f"microdial-daemon-{self.session}-{self.daemon}",
                protocol="3.1.1" if self.protocol == "3.1.1" else "5",
                persistent=True,
                session_expiry=options.session_expiry,
                will=Will(self._status_topic, will, qos=options.qos_status),
                keepalive=options.keepalive,
                timeout=options.publish_timeout,
                max_inflight=options.max_inflight,
            ),
        )


def _refused_protocol(err: MqttError) -> bool:
    """The broker refused MQTT 5 as such, or never answered it (brokers that only speak 3.1.1);
    not a refusal for another reason (a wrong password), which 3.1.1 would not cure."""
    if isinstance(err, ConnectRefused):
        return err.code == UNSUPPORTED_PROTOCOL
    return "timed out" in str(err) or "closed the connection at once" in str(err)
