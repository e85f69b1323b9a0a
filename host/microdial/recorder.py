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
import logging
import os
import time
from collections import deque
from pathlib import Path

import aiomqtt
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings

from dialwire import SEQ_MODULO, seq_delta
from microdial.broker import DEFAULT_URL, BrokerAddress, mqtt_client
from microdial.errors import RecordingError
from microdial.payloads import Code, DialEvent, DialStatus, Sample, parse_samples
from microdial.recording import (
    EVENT_COLUMNS,
    EVENTS_FILE,
    META_FILE,
    SAMPLE_COLUMNS,
    DialMeta,
    RecordedEvent,
    SessionMeta,
    csv_lines,
    event_row,
    read_events,
    read_samples,
    sample_row,
    samples_file,
    write_all,
)
from microdial.topics import parse_topic, subscription

log = logging.getLogger(__name__)

_HALF = SEQ_MODULO // 2


class RecorderSettings(BaseSettings):
    broker: str = DEFAULT_URL
    out: Path = Path("recordings")
    session: Code | None = Field(None, description="record only this session; None records all")
    client_id: Code = "microdial-recorder"
    fsync_interval: float = Field(0.5, gt=0)
    keepalive: int = Field(10, ge=1)
    reconnect_max: float = Field(5.0, gt=0)
    # Recent samples per dial remembered for de-duplication: the daemon's whole queue.
    dedupe_window: int = Field(200_000, ge=1)
    # Messages written before the kernel write and the acknowledgements are done in one go.
    ack_batch: int = Field(200, ge=1)


class AppendFile:
    """An append-only CSV file of whole lines, written with os.write so nothing waits in user space.

    Rows wait as Python lists until flush(), which formats them all in one csv call: at the
    daemon's two or three samples per message, formatting per message cost the recorder a
    tenth of its time."""

    def __init__(self, path: Path, header: str) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            size = os.fstat(self._fd).st_size
            if size:
                size = self._repair(size)
            if size == 0:
                write_all(self._fd, header.encode())
                size = len(header.encode())
        except OSError as err:
            raise RecordingError(f"cannot open {path}: {err.strerror}") from None
        self._good = size
        self._pending: list[list[object]] = []
        self._unsynced = True

    def _repair(self, size: int) -> int:
        """Cut a torn last line (left by a kill -9 mid-write); returns the new size."""
        end = size
        while end > 0:
            start = max(0, end - 65536)
            chunk = os.pread(self._fd, end - start, start)
            if end == size and chunk.endswith(b"\n"):
                return size
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                log.warning("%s: cut a torn last line (%d bytes)", self.path, size - keep)
                os.ftruncate(self._fd, keep)
                return keep
            end = start
        log.warning("%s: no whole line in it; starting it again", self.path)
        os.ftruncate(self._fd, 0)
        return 0

    def append(self, rows: list[list[object]]) -> None:
        self._pending.extend(rows)

    def flush(self) -> None:
        if not self._pending:
            return
        data = csv_lines(self._pending).encode()
        self._pending.clear()
        try:
            write_all(self._fd, data)
        except OSError as err:
            # Back to the last whole line, so what was written stays readable.
            try:
                os.ftruncate(self._fd, self._good)
            except OSError:
                log.exception("%s: cannot cut back a failed write", self.path)
            raise RecordingError(
                f"cannot write {self.path}: {err.strerror}; everything before stays intact and "
                "the broker keeps what was not written: free space and start the recorder again"
            ) from None
        self._good += len(data)
        self._unsynced = True

    def sync(self) -> None:
        if self._unsynced:
            try:
                os.fsync(self._fd)
            except OSError as err:
                raise RecordingError(f"cannot sync {self.path}: {err.strerror}") from None
            self._unsynced = False

    def close(self) -> None:
        try:
            self.flush()
            self.sync()
        finally:
            os.close(self._fd)


class DialRecord:
    """One dial's samples file, with what de-duplication and gap detection need to remember."""

    def __init__(self, folder: Path, dial: str, meta: DialMeta, window: int) -> None:
        self.dial = dial
        self.meta = meta
        self._window = window
        self._recent: dict[int, float] = {}
        self._order: deque[int] = deque()
        self._last_seq: int | None = None
        self._playback: str | None = None
        # Plain counters on the hot path; copied into meta by update_meta().
        self._samples = 0
        self._gaps = 0
        self._lost = 0
        self._first: float | None = None
        self._last: float | None = None
        self._uncertainty_sum = 0.0
        self._uncertainty_n = 0
        self._uncertainty_max: float | None = None
        path = folder / meta.samples_file
        self.file = AppendFile(path, csv_lines([list(SAMPLE_COLUMNS)]))
        for sample in read_samples(path):
            self._observe(sample)
        self.update_meta()

    def update_meta(self) -> None:
        meta = self.meta
        meta.samples = self._samples
        meta.gaps = self._gaps
        meta.lost_samples = self._lost
        meta.first_host_time = self._first
        meta.last_host_time = self._last
        meta.sync_uncertainty_max = self._uncertainty_max
        meta.sync_uncertainty_mean = (
            self._uncertainty_sum / self._uncertainty_n if self._uncertainty_n else None
        )

    def add(self, samples: list[Sample]) -> list[RecordedEvent]:
        events: list[RecordedEvent] = []
        rows: list[list[object]] = []
        for sample in samples:
            if self._recent.get(sample.seq) == sample.host_time:
                self.meta.duplicates_dropped += 1
                continue
            events.extend(self._observe(sample))
            rows.append(sample_row(sample))
        self.file.append(rows)
        return events

    def _observe(self, sample: Sample) -> list[RecordedEvent]:
        events: list[RecordedEvent] = []
        if self._last_seq is not None:
            step = seq_delta(sample.seq, self._last_seq)
            if 1 < step < _HALF:
                self._gaps += 1
                self._lost += step - 1
                events.append(self._event(sample, "gap", f"{step - 1} samples lost before seq {sample.seq}"))
            elif step == 0 or step >= _HALF:
                events.append(self._event(sample, "seq-restart", f"seq {self._last_seq} -> {sample.seq}"))
        self._last_seq = sample.seq
        if sample.playback != self._playback and self._playback is not None and sample.playback is not None:
            events.append(self._event(sample, "playback", sample.playback))
        self._playback = sample.playback
        if sample.discontinuity:
            events.append(
                self._event(sample, "seek", "" if sample.media_time is None else f"{sample.media_time}")
            )
        self._remember(sample)
        self._samples += 1
        if self._first is None:
            self._first = sample.host_time
        self._last = sample.host_time
        uncertainty = sample.sync_uncertainty
        if uncertainty is not None:
            self._uncertainty_n += 1
            self._uncertainty_sum += uncertainty
            if self._uncertainty_max is None or uncertainty > self._uncertainty_max:
                self._uncertainty_max = uncertainty
        return events

    def _remember(self, sample: Sample) -> None:
        if sample.seq not in self._recent:
            self._order.append(sample.seq)
            if len(self._order) > self._window:
                del self._recent[self._order.popleft()]
        self._recent[sample.seq] = sample.host_time

    def _event(self, sample: Sample, kind: str, detail: str) -> RecordedEvent:
        return RecordedEvent(
            host_time=sample.host_time,
            host_monotonic=sample.host_monotonic,
            source="recorder",
            dial=sample.dial,
            role=sample.role,
            kind=kind,
            detail=detail,
            seq=sample.seq,
            device_time=sample.device_time,
            media_time=sample.media_time,
        )


def _event_key(event: RecordedEvent) -> tuple[str | None, str, float, float | None, str]:
    return (event.dial, event.kind, event.host_time, event.host_monotonic, event.detail)


class SessionRecord:
    """One session folder: session.json, events.csv and a samples file per dial."""

    def __init__(self, root: Path, session: str, window: int) -> None:
        self.folder = root / session
        self._window = window
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RecordingError(f"cannot create {self.folder}: {err.strerror}") from None
        if (self.folder / META_FILE).exists():
            self.meta = SessionMeta.load(self.folder)
        else:
            self.meta = SessionMeta(session=session)
        self.events = AppendFile(self.folder / EVENTS_FILE, csv_lines([list(EVENT_COLUMNS)]))
        # The daemon's events, like its samples, can be redelivered after a restart.
        self._daemon_events = {
            _event_key(event) for event in read_events(self.events.path) if event.source == "daemon"
        }
        self.dials: dict[str, DialRecord] = {}
        self.meta_changed = True

    def dial(self, dial: str, role: str) -> DialRecord:
        record = self.dials.get(dial)
        if record is None:
            meta = self.meta.dials.get(dial) or DialMeta(
                role=role, samples_file=samples_file(dial), device_id=dial
            )
            record = DialRecord(self.folder, dial, meta, self._window)
            self.dials[dial] = record
            self.meta.add_dial(dial, meta)
        if record.meta.role != role:
            self.note(time.time(), "role", f"{record.meta.role} -> {role}", dial=dial, role=role)
            record.meta.role = role
            self.meta.add_dial(dial, record.meta)
        self.meta_changed = True
        return record

    def on_samples(self, dial: str, samples: list[Sample]) -> None:
        for event in self.dial(dial, samples[0].role).add(samples):
            self.write_event(event)

    def on_status(self, status: DialStatus) -> None:
        meta = self.dial(status.dial, status.role).meta
        if meta.state != status.state:
            self.note(status.host_time, "status", status.state, dial=status.dial, role=status.role)
        for field in ("firmware", "protocol", "input", "rate_hz"):
            value = getattr(status, field)
            if value is not None:
                setattr(meta, field, value)
        meta.state = status.state
        meta.counters = status.counters
        if status.sync is not None:
            meta.sync = status.sync

    def on_event(self, event: DialEvent) -> None:
        self.dial(event.dial, event.role)
        recorded = RecordedEvent(
            host_time=event.host_time,
            host_monotonic=event.host_monotonic,
            source="daemon",
            dial=event.dial,
            role=event.role,
            kind=event.kind,
            detail=event.detail,
            device_time=event.device_time,
            media_time=event.media_time,
        )
        key = _event_key(recorded)
        if key not in self._daemon_events:
            self._daemon_events.add(key)
            self.write_event(recorded)

    def note(
        self, host_time: float, kind: str, detail: str, *, dial: str | None = None, role: str | None = None
    ) -> None:
        self.write_event(
            RecordedEvent(
                host_time=host_time, source="recorder", dial=dial, role=role, kind=kind, detail=detail
            )
        )

    def write_event(self, event: RecordedEvent) -> None:
        self.events.append([event_row(event)])

    def flush(self) -> None:
        for record in self.dials.values():
            record.file.flush()
        self.events.flush()

    def sync(self) -> None:
        self.flush()
        for record in self.dials.values():
            record.file.sync()
        self.events.sync()
        if self.meta_changed:
            for record in self.dials.values():
                record.update_meta()
            self.meta.save(self.folder)
            self.meta_changed = False

    def close(self) -> None:
        try:
            self.sync()
        finally:
            for record in self.dials.values():
                record.file.close()
            self.events.close()


class Recorder:
    """Messages in, session folders out; no MQTT here, so it can be driven directly."""

    def __init__(self, out: Path, session: str | None = None, window: int = 200_000) -> None:
        self.out = out
        self.session = session
        self.window = window
        self.sessions: dict[str, SessionRecord] = {}
        self.bad_payloads = 0
        # Retained statuses of sessions with nothing else yet: the broker keeps them for every
        # session ever run, and they alone must not make a folder.
        self._held: dict[str, list[DialStatus]] = {}

    def _session(self, session: str) -> SessionRecord:
        record = self.sessions.get(session)
        if record is None:
            record = SessionRecord(self.out, session, self.window)
            self.sessions[session] = record
            log.info("recording session %s into %s", session, record.folder)
            for status in self._held.pop(session, []):
                record.on_status(status)
        return record

    def handle(self, topic: str, payload: bytes, *, retained: bool = False) -> None:
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
                status = DialStatus.model_validate_json(payload)
                self._check(parts.session, parts.dial, [status])
                held = self._held.setdefault(parts.session, [])
                held[:] = [s for s in held if s.dial != status.dial] + [status]
                return
            if parts.channel == "samples":
                samples = parse_samples(payload)
                if not samples:
                    return
                self._check(parts.session, parts.dial, samples)
                self._session(parts.session).on_samples(parts.dial, samples)
            elif parts.channel == "status":
                status = DialStatus.model_validate_json(payload)
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
            self._session(parts.session).note(
                time.time(), "bad-payload", f"{parts.channel}: {reason}", dial=parts.dial
            )

    @staticmethod
    def _check(session: str, dial: str, items: list[Sample] | list[DialStatus] | list[DialEvent]) -> None:
        for item in items:
            if item.session != session or item.dial != dial:
                raise ValueError(f"payload for {item.session}/{item.dial} on the topic of {session}/{dial}")

    def flush(self) -> None:
        for record in self.sessions.values():
            record.flush()

    def sync(self) -> None:
        for record in self.sessions.values():
            record.sync()

    def close(self) -> None:
        errors: list[RecordingError] = []
        for record in self.sessions.values():
            try:
                record.close()
            except RecordingError as err:
                errors.append(err)
        self.sessions.clear()
        if errors:
            raise errors[0]


def _client(settings: RecorderSettings, address: BrokerAddress) -> aiomqtt.Client:
    client = mqtt_client(
        address,
        identifier=settings.client_id,
        protocol=aiomqtt.ProtocolVersion.V311,
        clean_session=False,
        keepalive=settings.keepalive,
    )
    # aiomqtt has no switch for this; its paho client does. Acknowledging only after the
    # write is what makes a kill -9 lose nothing.
    client._client.manual_ack_set(True)
    return client


async def _consume(client: aiomqtt.Client, recorder: Recorder, settings: RecorderSettings) -> None:
    messages = client.messages
    unacked: list[aiomqtt.Message] = []
    next_sync = time.monotonic() + settings.fsync_interval

    def commit() -> None:
        recorder.flush()
        for message in unacked:
            client._client.ack(message.mid, message.qos)
        unacked.clear()

    # One wait for the next message outlives the fsync timeouts: cancelling it could drop a
    # message it had already taken off the queue (and, unacknowledged, stall it until reconnect).
    getter: asyncio.Future[aiomqtt.Message] | None = None
    try:
        while True:
            message: aiomqtt.Message | None = None
            if getter is None and len(messages):
                # What is already queued is taken as is: anext() would start a task per message.
                message = client._queue.get_nowait()
            else:
                commit()
                if getter is None:
                    getter = asyncio.ensure_future(anext(messages))
                done, _ = await asyncio.wait({getter}, timeout=max(0.0, next_sync - time.monotonic()))
                if done:
                    message = getter.result()
                    getter = None
            if message is not None:
                recorder.handle(
                    str(message.topic),
                    message.payload if isinstance(message.payload, bytes) else b"",
                    retained=message.retain,
                )
                unacked.append(message)
                if len(unacked) >= settings.ack_batch:
                    commit()
            if time.monotonic() >= next_sync:
                commit()
                recorder.sync()
                next_sync = time.monotonic() + settings.fsync_interval
    finally:
        if getter is not None:
            getter.cancel()


async def record(settings: RecorderSettings, *, ready: asyncio.Event | None = None) -> None:
    """Record until cancelled; then flush, sync and close everything and re-raise CancelledError."""
    address = BrokerAddress.parse(settings.broker)
    recorder = Recorder(settings.out, settings.session, settings.dedupe_window)
    topic = subscription(settings.session)
    delay = 0.2
    try:
        while True:
            client = _client(settings, address)
            try:
                async with client:
                    await client.subscribe(topic, qos=1)
                    log.info("recording %s from %s into %s", topic, address.url, settings.out)
                    delay = 0.2
                    if ready is not None:
                        ready.set()
                    await _consume(client, recorder, settings)
            except aiomqtt.MqttError as err:
                log.warning("broker %s: %s; reconnecting in %.1f s", address.url, err, delay)
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
