"""Session folders written durably: append-only CSV files, de-duplication, gaps, session.json."""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from pathlib import Path

import pyarrow as pa

from microdial.device.sequence import SequenceCounter
from microdial.errors import RecordingError
from microdial.model import DialEvent, DialStatus, Sample
from microdial.store.format import (
    EVENT_COLUMNS,
    EVENTS_FILE,
    META_FILE,
    SAMPLE_COLUMNS,
    DialMeta,
    RecordedEvent,
    SessionMeta,
    csv_lines,
    event_row,
    sample_row,
    samples_file,
    write_all,
)
from microdial.store.reader import read_events, read_sample_columns

log = logging.getLogger(__name__)

# What DialRecord rebuilds its state from on start.
_REBUILD_COLUMNS: dict[str, pa.DataType] = {
    "seq": pa.int64(),
    "host_time": pa.float64(),
    "boot": pa.string(),
    "playback": pa.string(),
    "sync_uncertainty": pa.float64(),
}


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
        # A sample's identity (sample_identity) -> seen; the window bounds it.
        self._recent: set[Identity] = set()
        self._order: deque[Identity] = deque()
        self._playback: str | None = None
        # Plain counters on the hot path, gaps by the daemon's own rule; copied into meta by
        # update_meta().
        self._seq = SequenceCounter()
        self._first: float | None = None
        self._last: float | None = None
        self._uncertainty_sum = 0.0
        self._uncertainty_n = 0
        self._uncertainty_max: float | None = None
        path = folder / meta.samples_file
        self.file = AppendFile(path, csv_lines([list(SAMPLE_COLUMNS)]))
        self._rebuild(path)
        self.update_meta()

    def _rebuild(self, path: Path) -> None:
        """The counts and the recent samples, from what the file already holds (after a restart).

        Read by columns: a pydantic model per row took seconds per hour of recording. The events
        _observe would make are already in events.csv, so only what it counts is redone here."""
        table = read_sample_columns(path, _REBUILD_COLUMNS, ("seq", "host_time"))
        hosts: list[float] = table.column("host_time").to_pylist()
        uncertainties: list[float | None] = table.column("sync_uncertainty").to_pylist()
        boots: list[str | None] = (
            table.column("boot").to_pylist() if "boot" in table.column_names else [None] * len(hosts)
        )
        for seq, host_time, boot, uncertainty in zip(
            table.column("seq").to_pylist(), hosts, boots, uncertainties, strict=True
        ):
            self._seq.observe(seq)
            self._remember(_identity(boot, seq, host_time))
            if uncertainty is not None:
                self._count_uncertainty(uncertainty)
        if hosts:
            self._first, self._last = hosts[0], hosts[-1]
            self._playback = table.column("playback")[-1].as_py()

    def update_meta(self) -> None:
        meta = self.meta
        meta.samples = self._seq.samples
        meta.gaps = self._seq.gaps
        meta.lost_samples = self._seq.lost
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
            if _identity(sample.boot, sample.seq, sample.host_time) in self._recent:
                self.meta.duplicates_dropped += 1
                continue
            events.extend(self._observe(sample))
            rows.append(sample_row(sample))
        self.file.append(rows)
        return events

    def _observe(self, sample: Sample) -> list[RecordedEvent]:
        events: list[RecordedEvent] = []
        step = self._seq.observe(sample.seq)
        if step.kind == "gap":
            events.append(self._event(sample, "gap", f"{step.lost} samples lost before seq {sample.seq}"))
        elif step.kind in ("repeat", "back"):
            events.append(self._event(sample, "seq-restart", f"seq {step.previous} -> {sample.seq}"))
        if sample.playback != self._playback and self._playback is not None and sample.playback is not None:
            events.append(self._event(sample, "playback", sample.playback))
        self._playback = sample.playback
        if sample.discontinuity:
            # Named by its cause; true, from daemons before causes, was always recorded as a seek.
            kind = "seek" if sample.discontinuity is True else sample.discontinuity
            events.append(
                self._event(sample, kind, "" if sample.media_time is None else f"{sample.media_time}")
            )
        self._remember(_identity(sample.boot, sample.seq, sample.host_time))
        if self._first is None:
            self._first = sample.host_time
        self._last = sample.host_time
        if sample.sync_uncertainty is not None:
            self._count_uncertainty(sample.sync_uncertainty)
        return events

    def _count_uncertainty(self, uncertainty: float) -> None:
        self._uncertainty_n += 1
        self._uncertainty_sum += uncertainty
        if self._uncertainty_max is None or uncertainty > self._uncertainty_max:
            self._uncertainty_max = uncertainty

    def _remember(self, identity: Identity) -> None:
        if identity not in self._recent:
            self._order.append(identity)
            self._recent.add(identity)
            if len(self._order) > self._window:
                self._recent.discard(self._order.popleft())

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


Identity = tuple[str, int] | tuple[int, float]


def _identity(boot: str | None, seq: int, host_time: float) -> Identity:
    """A sample of a dial is (boot, seq); a protocol 1 dial has no boot: (seq, host_time), since
    its seq restarts at every boot and a redelivery is the same payload byte for byte."""
    return (boot, seq) if boot is not None else (seq, host_time)


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
        # dial -> journal id -> every record below it written (protocol/SPEC.md 3.5); kept in
        # session.json so a restarted recorder confirms and asks from where it stood.
        extra = self.meta.model_extra or {}
        self.positions: dict[str, dict[str, int]] = dict(extra.get("delivery") or {})

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
            setattr(self.meta, "delivery", self.positions)  # noqa: B010 - an extra field of session.json
            self.meta.save(self.folder)
            self.meta_changed = False

    def close(self) -> None:
        try:
            self.sync()
        finally:
            for record in self.dials.values():
                record.file.close()
            self.events.close()
