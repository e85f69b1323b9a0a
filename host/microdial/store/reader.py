"""Session folders read back: the rows of samples and events files."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from microdial.errors import RecordingError
from microdial.model import Sample
from microdial.store.format import EVENT_COLUMNS, SAMPLE_COLUMNS, RecordedEvent


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
