"""The recorder: MQTT -> session folders (recording.py), the durable system of record.

Durability, step by step:
- A persistent MQTT session (fixed client id, clean_session=False, QoS 1 subscriptions): while
  the recorder is down the broker queues for it.
- Messages are acknowledged by hand, only once their rows are in the kernel (os.write), so a
  kill -9 loses nothing: whatever was not written is redelivered on restart. Files are fsynced
  every fsync_interval and on close, which bounds what a power cut can take.
- Redelivered samples are dropped by (dial, seq, host_time); the recent ones are rebuilt from
  the files on start. host_time joins seq in the key because a dial that resets counts from 0
  again, and a redelivery is the same payload byte for byte.
- A torn last line (kill -9 in the middle of a write) is cut off on start; its message was
  never acknowledged, so it comes again.
- A failed write (full disk) is cut back to the last whole line and raises RecordingError; the
  message stays unacknowledged in the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from pydantic import Field, ValidationError

from microdial.errors import RecordingError
from microdial.model import Code, DaemonStatus, DialEvent, DialStatus, Sample, parse_samples
from microdial.mqtt.address import BrokerAddress, BrokerSettings, ConnectionReport
from microdial.mqtt.client import ClientOptions, Message, MqttClient, MqttError, mqtt_client
from microdial.mqtt.presence import Presence
from microdial.mqtt.topics import dial_topic, parse_daemon_topic, parse_topic, subscription
from microdial.store.plausible import Quarantine
from microdial.store.writer import SessionRecord

log = logging.getLogger(__name__)


class RecorderSettings(BrokerSettings):
    out: Path = Field(Path("recordings"), description="folder for session folders")
    session: Code | None = Field(None, description="record only this session code; none: every session")
    client_id: Code = Field(
        "microdial-recorder", description="MQTT client id; the broker queues for it while it is down"
    )
    fsync_interval: float = Field(0.5, gt=0, description="seconds between fsyncs of the session files")
    keepalive: int = Field(10, ge=1, description="MQTT keepalive, seconds")
    reconnect_max: float = Field(5.0, gt=0, description="longest wait between reconnection attempts, seconds")
    dedupe_window: int = Field(
        200_000,
        ge=1,
        description="recent samples per dial remembered for de-duplication: the daemon's whole queue",
    )
    ack_batch: int = Field(
        200,
        ge=1,
        description="messages written before the kernel write and the acknowledgements are done in one go",
    )


class Recorder:
    """Messages in, session folders out; no MQTT here, so it can be driven directly."""

    def __init__(self, out: Path, session: str | None = None, window: int = 200_000) -> None:
        self.out = out
        self.session = session
        self.window = window
        self.sessions: dict[str, SessionRecord] = {}
        self.quarantines: dict[str, Quarantine] = {}
        self.bad_payloads = 0
        # Retained statuses of sessions with nothing else yet: the broker keeps them for every
        # session ever run, and they alone must not make a folder.
        self._held: dict[str, list[DialStatus]] = {}
        self._presence = Presence()

    def _session(self, session: str) -> SessionRecord:
        record = self.sessions.get(session)
        if record is None:
            record = SessionRecord(self.out, session, self.window)
            self.sessions[session] = record
            self.quarantines[session] = Quarantine(record)
            log.info("recording session %s into %s", session, record.folder)
            for status in self._held.pop(session, []):
                record.on_status(status)
        return record

    def handle(self, topic: str, payload: bytes, *, retained: bool = False) -> None:
        if parse_daemon_topic(topic) is not None:
            self._daemon(topic, payload, retained)
            return
        parts = parse_topic(topic)
        # "." and ".." pass the code pattern but would name a folder outside the session's.
        if parts is None or parts.session in (".", "..") or self.session not in (None, parts.session):
            return
        try:
            if (
                retained
                and parts.channel == "status"
                and parts.session not in self.sessions
                and not (self.out / parts.session).exists()
            ):
                status = self._presence.status(DialStatus.model_validate_json(payload))
                self._check(parts.session, parts.dial, [status])
                held = self._held.setdefault(parts.session, [])
                held[:] = [s for s in held if s.dial != status.dial] + [status]
                return
            if parts.channel == "samples":
                samples = parse_samples(payload)
                if not samples:
                    return
                self._check(parts.session, parts.dial, samples)
                record = self._session(parts.session)
                samples = self.quarantines[parts.session].sort(parts.dial, samples)
                if samples:
                    record.on_samples(parts.dial, samples)
            elif parts.channel == "status":
                status = self._presence.status(DialStatus.model_validate_json(payload))
                self._check(parts.session, parts.dial, [status])
                self._session(parts.session).on_status(status)
            else:
                event = DialEvent.model_validate_json(payload)
                self._check(parts.session, parts.dial, [event])
                self._session(parts.session).on_event(event)
        except (ValidationError, ValueError) as err:
            self.bad_payloads += 1
            reason = err.errors()[0]["msg"] if isinstance(err, ValidationError) else str(err)
            log.warning("ignored a bad payload on %s: %s", topic, reason)
            if retained and parts.session not in self.sessions:
                return
            if parts.channel == "samples":
                self._session(parts.session)
                self.quarantines[parts.session].reject(parts.dial, payload, reason)
            self._session(parts.session).note(
                time.time(), "bad-payload", f"{parts.channel}: {reason}", dial=parts.dial
            )

    def _daemon(self, topic: str, payload: bytes, retained: bool) -> None:
        """A daemon's will marks its dials offline: their statuses are taken again as offline."""
        try:
            daemon = DaemonStatus.model_validate_json(payload)
        except ValidationError as err:
            self.bad_payloads += 1
            log.warning("ignored a bad payload on %s: %s", topic, err.errors()[0]["msg"])
            return
        for status in self._presence.daemon(daemon):
            self.handle(
                dial_topic(status.session, status.dial, "status"),
                status.model_dump_json().encode(),
                retained=retained,
            )

    @staticmethod
    def _check(session: str, dial: str, items: list[Sample] | list[DialStatus] | list[DialEvent]) -> None:
        for item in items:
            if item.session != session or item.dial != dial:
                raise ValueError(f"payload for {item.session}/{item.dial} on the topic of {session}/{dial}")

    def flush(self) -> None:
        for record, quarantine in zip(self.sessions.values(), self.quarantines.values(), strict=True):
            record.flush()
            quarantine.flush()

    def sync(self) -> None:
        for record, quarantine in zip(self.sessions.values(), self.quarantines.values(), strict=True):
            quarantine.sync()
            record.sync()

    def close(self) -> None:
        errors: list[RecordingError] = []
        closing: list[Quarantine | SessionRecord] = [*self.quarantines.values(), *self.sessions.values()]
        for closable in closing:
            try:
                closable.close()
            except RecordingError as err:
                errors.append(err)
        self.sessions.clear()
        self.quarantines.clear()
        if errors:
            raise errors[0]


def _client(settings: RecorderSettings, address: BrokerAddress) -> MqttClient:
    # Acknowledging only after the write is what makes a kill -9 lose nothing.
    options = ClientOptions(
        identifier=settings.client_id,
        protocol="3.1.1",
        persistent=True,
        keepalive=settings.keepalive,
        manual_ack=True,
    )
    return mqtt_client(address, options)


async def _consume(client: MqttClient, recorder: Recorder, settings: RecorderSettings) -> None:
    messages = client.messages
    unacked: list[Message] = []
    next_sync = time.monotonic() + settings.fsync_interval

    def commit() -> None:
        recorder.flush()
        for message in unacked:
            client.ack(message)
        unacked.clear()

    while True:
        # What arrived already is taken without waiting; the wait costs no task, and one that
        # times out loses nothing (the client gives a message up only when it returns it).
        message = client.queued_message()
        if message is None:
            commit()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_sync - time.monotonic())):
                    message = await anext(messages)
        if message is not None:
            recorder.handle(str(message.topic), message.payload, retained=message.retain)
            unacked.append(message)
            if len(unacked) >= settings.ack_batch:
                commit()
        if time.monotonic() >= next_sync:
            commit()
            recorder.sync()
            next_sync = time.monotonic() + settings.fsync_interval


async def record(settings: RecorderSettings, *, ready: asyncio.Event | None = None) -> None:
    """Record until cancelled; then flush, sync and close everything and re-raise CancelledError."""
    address = settings.broker_address()
    report = ConnectionReport("recorder", address)
    recorder = Recorder(settings.out, settings.session, settings.dedupe_window)
    topic = subscription(settings.session)
    delay = 0.2
    try:
        while True:
            client = _client(settings, address)
            connected = False
            try:
                async with client:
                    connected = True
                    report.connected()
                    await client.subscribe(topic, qos=1)
                    log.info("recording %s from %s into %s", topic, address.url, settings.out)
                    delay = 0.2
                    if ready is not None:
                        ready.set()
                    await _consume(client, recorder, settings)
            except MqttError as err:
                if connected:
                    log.warning("broker %s: %s; reconnecting in %.1f s", address.url, err, delay)
                else:
                    report.failed(err)
            # Whatever arrived is on disk before the next connection redelivers the rest.
            recorder.sync()
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.reconnect_max)
    except BaseException:
        # The loop only ends by an exception (cancel, RecordingError): close, then let it through.
        try:
            recorder.close()
        except RecordingError as err:
            log.error("while closing: %s", err)
        raise
