"""Session folders read back.

read_session() is the one reader of a session folder for what analyses and plots it: its
session.json, each dial's samples as numpy arrays (pyarrow reads the CSV column by column: a
pydantic model per row would take tens of seconds for a two-hour session, and the columns read are
checked here as strictly), and its events. Timeline is the clock rule they all place samples by.

read_samples() and read_events() give the rows as validated models, for the writer, which rebuilds
its de-duplication state from them on start.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
from pydantic import ValidationError

from microdial.errors import RecordingError
from microdial.model import Sample
from microdial.store.format import (
    EVENT_COLUMNS,
    META_FILE,
    SAMPLE_COLUMNS,
    STILL,
    RecordedEvent,
    SessionMeta,
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

Clock = Literal["media", "session"]

# Only what is used is converted: parsing every column doubled the read time of long sessions.
_COLUMN_TYPES: dict[str, pa.DataType] = {
    "value": pa.float64(),
    "host_time": pa.float64(),
    "media_time": pa.float64(),
    "playback": pa.string(),
    "discontinuity": pa.bool_(),
}
_REQUIRED = ("value", "host_time")


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
        dials.append(read_dial_samples(path, dial, dial_meta.role, scale))
    if not any(d.value.size for d in dials):
        raise RecordingError(f"session {meta.session} in {folder} has no samples")
    return Session(folder, meta, dials)


def read_dial_samples(path: Path, dial: str, role: str, scale: tuple[int, int]) -> DialSamples:
    """A `<dial>.samples.csv`, checked column by column."""
    table = read_sample_columns(path, _COLUMN_TYPES, _REQUIRED)
    host = table.column("host_time").to_numpy(zero_copy_only=False).astype(np.float64)
    value = table.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
    low, high = scale
    outside = int(np.count_nonzero((value < low) | (value > high)))
    if outside:
        raise RecordingError(f"{path}: {outside} values outside the session's scale {low}..{high}")
    media = table.column("media_time").to_numpy(zero_copy_only=False).astype(np.float64)
    playback = table.column("playback").fill_null("").to_numpy(zero_copy_only=False)
    still = np.isin(playback, STILL)
    disc = table.column("discontinuity").fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
    order = np.argsort(host, kind="stable")
    return DialSamples(
        dial=dial,
        role=role,
        host_time=host[order],
        media_time=media[order],
        value=value[order],
        still=still[order],
        discontinuity=disc[order],
    )


def read_sample_columns(path: Path, types: dict[str, pa.DataType], required: Sequence[str] = ()) -> pa.Table:
    """The columns `types` of a samples file, in file order; a RecordingError if they cannot be
    read as those types or a `required` column has an empty cell."""
    try:
        with path.open("rb") as handle:
            header = handle.readline().decode("utf-8").strip().split(",")
    except (OSError, UnicodeDecodeError) as err:
        raise RecordingError(f"cannot read {path}: {err}") from None
    missing = [name for name in SAMPLE_COLUMNS if name not in header]
    if missing:
        raise RecordingError(f"{path} lacks columns {', '.join(missing)}: not a microdial samples file")
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                null_values=[""],
                strings_can_be_null=True,
                include_columns=list(types),
            ),
        )
    except (pa.ArrowInvalid, OSError) as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise RecordingError(f"{path} is not a valid samples file: {first_line}") from None
    for name in required:
        nulls = table.column(name).null_count
        if nulls:
            raise RecordingError(f"{path}: {nulls} rows have an empty {name}")
    return table


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str | None]]]:
    try:
        handle = path.open(newline="")
    except OSError as err:
        raise RecordingError(f"cannot read {path}: {err.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        if tuple(header) != columns:
            raise RecordingError(f"{path}: unexpected header {','.join(header)}")
        for row in reader:
            if len(row) != len(columns):
                raise RecordingError(
                    f"{path} line {reader.line_num}: {len(row)} cells, expected {len(columns)}"
                )
            yield (
                reader.line_num,
                {key: (cell if cell != "" else None) for key, cell in zip(columns, row, strict=True)},
            )


def read_samples(path: Path) -> Iterator[Sample]:
    """Samples from a <dial>.samples.csv, validated; a bad row is a RecordingError naming its line."""
    for line, row in _rows(path, SAMPLE_COLUMNS):
        try:
            yield Sample.model_validate(row)
        except ValidationError as err:
            raise RecordingError(f"{path} line {line}: {err.errors()[0]['msg']}") from None


def read_events(path: Path) -> Iterator[RecordedEvent]:
    for line, row in _rows(path, EVENT_COLUMNS):
        try:
            yield RecordedEvent.model_validate({k: v for k, v in row.items() if v is not None})
        except ValidationError as err:
            raise RecordingError(f"{path} line {line}: {err.errors()[0]['msg']}") from None
