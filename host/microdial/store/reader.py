"""Session folders read back, all through pyarrow's CSV reader.

read_session() is the reader of a session folder for whatever analyses or plots it: its
session.json, each dial's samples as numpy arrays, read column by column (a pydantic model per
row would take tens of seconds for a two-hour session; the columns read are checked here as
strictly), and its events. Timeline is the clock rule by which they all place samples and events.

read_sample_columns() is the column read underneath, which the writer also rebuilds its state
from on start. read_samples() and read_events() give the rows as the validated models they were
written from (format.sample_row, format.event_row; an imported dial's fractional values as
format.ImportedSample).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pydantic import ValidationError

from microdial.errors import RecordingError
from microdial.model import Sample
from microdial.store.format import (
    EVENT_COLUMNS,
    META_FILE,
    SAMPLE_COLUMNS,
    STILL,
    ImportedSample,
    RecordedEvent,
    SessionMeta,
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

Clock = Literal["media", "session"]

Row = TypeVar("Row", Sample, RecordedEvent)

# Only what is used is converted: parsing every column doubled the read time of long sessions.
_COLUMN_TYPES: dict[str, pa.DataType] = {
    "value": pa.float64(),
    "host_time": pa.float64(),
    "media_time": pa.float64(),
    "playback": pa.string(),
    "discontinuity": pa.bool_(),
}
_REQUIRED = ("value", "host_time")
_STILL = pa.array(STILL, pa.string())


@dataclass(frozen=True)
class DialSamples:
    """One dial's samples in arrival order (sorted by host_time)."""

    dial: str
    role: str
    host_time: FloatArray
    media_time: FloatArray  # NaN where null
    value: FloatArray
    still: BoolArray  # playback paused, seeking or no-player
    discontinuity: BoolArray


@dataclass(frozen=True)
class Timeline:
    """The clock a session's samples and events are placed on.

    If any sample of the session carries a media time, the session is on the media clock (seconds
    of the video), and what has no media time (no player known at that moment) has no place on it
    (NaN, None). Otherwise it is on the session clock: host_time minus the session's first sample
    across all dials, so the raters stay aligned with each other."""

    clock: Clock
    origin: float

    @classmethod
    def of(cls, dials: Sequence[DialSamples]) -> Timeline:
        media = any(bool(np.isfinite(d.media_time).any()) for d in dials)
        origin = min((float(d.host_time[0]) for d in dials if d.host_time.size), default=0.0)
        return cls("media" if media else "session", origin)

    def place(self, host_time: FloatArray, media_time: FloatArray) -> FloatArray:
        return media_time if self.clock == "media" else host_time - self.origin

    def at(self, host_time: float, media_time: float | None) -> float | None:
        return media_time if self.clock == "media" else host_time - self.origin


@dataclass(frozen=True)
class Session:
    folder: Path
    meta: SessionMeta
    dials: list[DialSamples]  # sorted by dial id

    @cached_property
    def timeline(self) -> Timeline:
        return Timeline.of(self.dials)

    def events(self) -> list[RecordedEvent]:
        path = self.folder / self.meta.events_file
        return list(read_events(path)) if path.exists() else []


def read_session(folder: Path) -> Session:
    """A session folder; a RecordingError, in one line, if it is not one or has no samples."""
    if not folder.is_dir():
        raise RecordingError(f"session folder {folder} does not exist: give the folder the recorder wrote")
    if not (folder / META_FILE).is_file():
        raise RecordingError(f"{folder} is not a session folder: it has no {META_FILE}")
    meta = SessionMeta.load(folder)
    scale = (meta.scale.min, meta.scale.max)
    dials = []
    for dial, dial_meta in sorted(meta.dials.items()):
        path = folder / dial_meta.samples_file
        if not path.is_file():
            raise RecordingError(f"{META_FILE} lists dial {dial} but {path.name} is missing from {folder}")
        dials.append(_read_dial(path, dial, dial_meta.role, scale))
    if not any(d.value.size for d in dials):
        raise RecordingError(f"session {meta.session} in {folder} has no samples")
    return Session(folder, meta, dials)


def _read_dial(path: Path, dial: str, role: str, scale: tuple[int, int]) -> DialSamples:
    """A `<dial>.samples.csv`, checked column by column."""
    table = read_sample_columns(path, _COLUMN_TYPES, _REQUIRED)
    value = _floats(table, "value")
    low, high = scale
    outside = int(np.count_nonzero((value < low) | (value > high)))
    if outside:
        raise RecordingError(f"{path}: {outside} values outside the session's scale {low}..{high}")
    host = _floats(table, "host_time")
    # In arrow, not numpy: turning the playback strings into Python objects took a third of the read.
    still = _bools(pc.fill_null(pc.is_in(table.column("playback"), value_set=_STILL), False))
    disc = _bools(table.column("discontinuity").fill_null(False))
    media = _floats(table, "media_time")
    # The recorder writes in arrival order, so a sort is rarely needed; skipping it saves a copy.
    if host.size > 1 and not bool(np.all(host[1:] >= host[:-1])):
        order = np.argsort(host, kind="stable")
        host, media, value, still, disc = host[order], media[order], value[order], still[order], disc[order]
    return DialSamples(
        dial, role, host_time=host, media_time=media, value=value, still=still, discontinuity=disc
    )


def _floats(table: pa.Table, name: str) -> FloatArray:
    """A float64 column as numpy, NaN where null."""
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


def _bools(column: pa.ChunkedArray) -> BoolArray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.bool_)


def read_sample_columns(path: Path, types: dict[str, pa.DataType], required: Sequence[str] = ()) -> pa.Table:
    """The columns `types` of a samples file, in file order; a RecordingError if they cannot be
    read as those types or a `required` column has an empty cell."""
    header = _header(path) or []
    missing = [name for name in SAMPLE_COLUMNS if name not in header and name != "boot"]
    if missing:
        raise RecordingError(f"{path} lacks columns {', '.join(missing)}: not a microdial samples file")
    try:
        table = pacsv.read_csv(path, convert_options=_convert(types))
    except (pa.ArrowInvalid, OSError) as err:
        raise RecordingError(f"{path} is not a valid samples file: {_first_line(err)}") from None
    for name in required:
        nulls = table.column(name).null_count
        if nulls:
            raise RecordingError(f"{path}: {nulls} rows have an empty {name}")
    return table


def read_samples(path: Path) -> Iterator[Sample]:
    """Samples from a <dial>.samples.csv, validated; a bad row is a RecordingError naming its line.
    A row whose value is not a whole number (an imported dial's) is an ImportedSample."""
    return _validated(path, SAMPLE_COLUMNS, _sample)


def _sample(row: dict[str, str | None]) -> Sample:
    value = row.get("value")
    try:
        fraction = value is not None and not float(value).is_integer()
    except ValueError:
        fraction = False  # Sample's validation names what is wrong with it
    return (ImportedSample if fraction else Sample).model_validate(row)


def read_events(path: Path) -> Iterator[RecordedEvent]:
    """The rows of an events.csv, validated like read_samples'."""
    return _validated(
        path,
        EVENT_COLUMNS,
        lambda row: RecordedEvent.model_validate({k: v for k, v in row.items() if v is not None}),
    )


def _validated(
    path: Path, columns: tuple[str, ...], validate: Callable[[dict[str, str | None]], Row]
) -> Iterator[Row]:
    header = _header(path)
    if header is None:
        return
    found = tuple(header)
    # Sample files written before the boot column read as they were.
    if found not in (columns, columns[:-1]) or (found != columns and columns[-1] != "boot"):
        raise RecordingError(f"{path}: unexpected header {','.join(header)}")
    columns = found
    # Every cell as text, so pydantic parses the numbers as it parses the payloads they came from;
    # batch by batch, so a long file is never all in memory as Python objects.
    parse = pacsv.ParseOptions(newlines_in_values=True)
    types = dict.fromkeys(columns, pa.string())
    line = 2
    try:
        for batch in pacsv.open_csv(path, parse_options=parse, convert_options=_convert(types)):
            for row in batch.to_pylist():
                try:
                    yield validate(row)
                except ValidationError as err:
                    raise RecordingError(f"{path} line {line}: {err.errors()[0]['msg']}") from None
                line += 1
    except (pa.ArrowInvalid, OSError) as err:
        raise RecordingError(f"{path}: {_first_line(err)}") from None


def _header(path: Path) -> list[str] | None:
    """The column names on a file's first line; None for an empty file."""
    try:
        with path.open("rb") as handle:
            first = handle.readline()
    except OSError as err:
        raise RecordingError(f"cannot read {path}: {err.strerror}") from None
    try:
        return first.decode("utf-8").rstrip("\r\n").split(",") if first else None
    except UnicodeDecodeError as err:
        raise RecordingError(f"cannot read {path}: {err}") from None


def _convert(types: dict[str, pa.DataType]) -> pacsv.ConvertOptions:
    # The writer writes None as an empty cell.
    return pacsv.ConvertOptions(
        column_types=types,
        null_values=[""],
        strings_can_be_null=True,
        include_columns=list(types),
        # Sample files written before the boot column: it reads as nulls.
        include_missing_columns=True,
    )


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__
