"""The session folder the recorder writes and analysis reads (the system of record).

<out>/<session>/
    session.json            SessionMeta
    <dial>.samples.csv      one row per sample, columns SAMPLE_COLUMNS, empty cell = null
    events.csv              one row per event, columns EVENT_COLUMNS: the daemon's own events
                            (marks, connects, ...) and what the recorder saw (gaps, status
                            changes, pauses, seeks)
    quarantine.csv          one row per sample or payload the recorder would not trust
                            (store/plausible.py), columns QUARANTINE_COLUMNS; only if there was one

Booleans are written `true`/`false`, floats with repr() so they read back bit for bit.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dialwire import SCALE_LABELS, VALUE_MAX, VALUE_MIN
from microdial import __version__
from microdial.errors import RecordingError
from microdial.model import Counters, Playback, Sample, SyncState

FORMAT = "microdial-session/1"


META_FILE = "session.json"


EVENTS_FILE = "events.csv"


QUARANTINE_FILE = "quarantine.csv"


SAMPLE_COLUMNS: tuple[str, ...] = tuple(Sample.model_fields)


class ImportedSample(Sample):
    """A sample of another tool (store.importers), as written and as read back: its value is the
    mapped value, a whole number written as one (so the recorder's integer columns stay integers)
    and any other kept as given."""

    value: Annotated[float, Field(ge=VALUE_MIN, le=VALUE_MAX)]  # type: ignore[assignment]

    @field_validator("value")
    @classmethod
    def _whole(cls, value: float) -> float:
        return int(value) if value.is_integer() else value


# Playback states in which the video does not advance, so a dial's value covers no media time.
STILL: tuple[Playback, ...] = ("paused", "seeking", "no-player")


def samples_file(dial: str) -> str:
    return f"{dial}.samples.csv"


class Scale(BaseModel):
    min: int = VALUE_MIN
    max: int = VALUE_MAX
    labels: dict[int, str] = Field(default_factory=lambda: dict(SCALE_LABELS))


class DialMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    samples_file: str
    firmware: str | None = None
    protocol: int | None = None
    input: str | None = None
    rate_hz: int | None = None
    samples: int = 0
    first_host_time: float | None = None
    last_host_time: float | None = None
    # The dial id is the device id (protocol/SPEC.md section 3); kept apart so a renamed
    # dial key in an imported session still says which device it was.
    device_id: str | None = None
    state: str | None = None
    # Seen by the recorder from sequence numbers; the daemon's own view is in counters.
    gaps: int = 0
    lost_samples: int = 0
    duplicates_dropped: int = 0
    counters: Counters | None = None
    # Clock-sync summary: the daemon's latest fit, and the spread of per-sample uncertainty.
    sync: SyncState | None = None
    sync_uncertainty_max: float | None = None
    sync_uncertainty_mean: float | None = None
    # Where the samples came from when not from a live dial (e.g. "import:carma"), and what the
    # importer knew about the original file and scale.
    source: str | None = None
    imported: dict[str, object] | None = None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class SessionMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    format: str = FORMAT
    session: str
    software: str = f"microdial {__version__}"
    scale: Scale = Field(default_factory=Scale)
    dials: dict[str, DialMeta] = Field(default_factory=dict)
    created: str = Field(default_factory=_now)
    updated: str = Field(default_factory=_now)
    events_file: str = EVENTS_FILE
    # Rater role -> its dials, kept in step with `dials` by add_dial().
    roles: dict[str, list[str]] = Field(default_factory=dict)
    # Which treatment (dyad) and participant the session belongs to, and what was rated (e.g.
    # "Working alliance"): analyze-course and analyze-study group and label by them.
    treatment: str | None = None
    participant: str | None = None
    construct_name: str | None = None
    # Samples and payloads kept apart in quarantine.csv, by rule (store/plausible.py): none of
    # them is in a samples file or in any count above.
    quarantined: dict[str, int] = Field(default_factory=dict)

    def add_dial(self, dial: str, meta: DialMeta) -> None:
        self.dials[dial] = meta
        self.roles = {}
        for name, known in sorted(self.dials.items()):
            self.roles.setdefault(known.role, []).append(name)

    @classmethod
    def load(cls, session_dir: Path) -> SessionMeta:
        path = session_dir / META_FILE
        try:
            return cls.model_validate_json(path.read_text())
        except OSError as err:
            raise RecordingError(f"cannot read {path}: {err.strerror}") from None
        except ValidationError as err:
            raise RecordingError(
                f"{path} is not a microdial session file: {err.errors()[0]['msg']}"
            ) from None

    def save(self, session_dir: Path) -> None:
        """Replace session.json atomically: a crash or a full disk leaves the previous one intact."""
        self.updated = _now()
        path = session_dir / META_FILE
        tmp = path.with_name(f".{META_FILE}.tmp")
        data = self.model_dump_json(indent=2).encode() + b"\n"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise RecordingError(
                f"cannot write {path}: {err.strerror}; the previous copy is intact"
            ) from None


EventSource = Literal["daemon", "recorder", "import"]


class RecordedEvent(BaseModel):
    """One row of events.csv."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host_time: float
    host_monotonic: float | None = None
    source: EventSource
    dial: str | None = None
    role: str | None = None
    # The daemon's kinds (payloads.EventKind) plus the recorder's: gap, status, playback,
    # seek, speed, media, resync (a discontinuity by its cause), seq-restart, bad-payload.
    kind: str
    detail: str = ""
    seq: int | None = None
    device_time: float | None = None
    media_time: float | None = None


EVENT_COLUMNS: tuple[str, ...] = tuple(RecordedEvent.model_fields)


class QuarantinedRow(BaseModel):
    """One row of quarantine.csv: what came, from where, and why it was not trusted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    received: float  # the recorder's clock, UTC epoch seconds
    dial: str
    rule: str  # a key of SessionMeta.quarantined: time, role, seq-jump, invalid
    reason: str
    seq: int | None = None
    # The sample as JSON, or the first bytes of a payload that was not one.
    payload: str


QUARANTINE_COLUMNS: tuple[str, ...] = tuple(QuarantinedRow.model_fields)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _bool(value: bool) -> str:
    return "true" if value else "false"


def csv_lines(rows: list[list[object]]) -> str:
    """CSV text of rows made by sample_row/event_row: the csv module writes None as an empty
    cell and floats with repr(); booleans are spelled out by the row makers."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


_DISCONTINUITY = SAMPLE_COLUMNS.index("discontinuity")


def sample_row(sample: Sample) -> list[object]:
    # The hot path of the recorder: a pydantic model keeps its fields in __dict__, in order.
    row: list[object] = list(sample.__dict__.values())
    row[_DISCONTINUITY] = _bool(sample.discontinuity is not False)
    return row


def event_row(event: RecordedEvent) -> list[object]:
    return [getattr(event, column) for column in EVENT_COLUMNS]


def quarantine_row(row: QuarantinedRow) -> list[object]:
    return [getattr(row, column) for column in QUARANTINE_COLUMNS]
