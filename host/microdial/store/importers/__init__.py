"""Ratings made with other tools, brought into a session folder next to the dials' own.

Each tool's export has its reader (carma, darma, continuum, and columns for any plain time/rating
table), found by name in READERS. Empty bins (NaN, empty cells) are left out, so they show as
sequence gaps. Values are mapped linearly onto the microdial scale (dialwire's VALUE_MIN..VALUE_MAX)
and kept as mapped (to 1e-6 points; whole numbers written as integers); the source scale and labels
are kept in session.json under the dial's `imported` entry, with `changes_only` when the file is a
log written only when the value changed (given, or detected: the grid then holds each value until
the next row). Imported samples carry media time only: their host_time and host_monotonic are the
media time too, and `player` names the tool. They are written by store.writer, as the recorder
writes a dial's. Each rated dimension takes its own role (one --role per --value), or all the one
given; treatment and participant codes go into session.json.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from microdial.errors import ConfigError
from microdial.model import Code, Sample
from microdial.store.format import META_FILE, ImportedSample, RecordedEvent, SessionMeta
from microdial.store.importers.common import (
    ColumnLayout,
    Format,
    RatingFile,
    RatingFileError,
    changes_only_log,
    to_scale,
)
from microdial.store.writer import SessionRecord

__all__ = [
    "FORMATS",
    "Codes",
    "ColumnLayout",
    "Format",
    "ImportRequest",
    "RatingFileError",
    "import_file",
    "import_request",
    "reader",
    "to_scale",
]

# Each format's reader as "module:function", imported when asked for.
READERS: dict[Format, str] = {
    "carma": "microdial.store.importers.carma:read_carma",
    "darma": "microdial.store.importers.darma:read_darma",
    "columns": "microdial.store.importers.columns:read_columns",
    "continuum": "microdial.store.importers.continuum:read_continuum",
}
FORMATS: tuple[Format, ...] = tuple(READERS)

Reader = Callable[[Path, ColumnLayout | None], RatingFile]


def reader(fmt: Format) -> Reader:
    module, _, function = READERS[fmt].partition(":")
    found: Reader = getattr(importlib.import_module(module), function)
    return found


def _code(text: str, length: int) -> str:
    """Text made a dial id (model.Code): other characters become '_'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:length]


@dataclass(frozen=True)
class Codes:
    """Who and what a session is, kept in session.json for analyze-course and analyze-study."""

    treatment: str | None = None
    participant: str | None = None


def _dial_names(rating: RatingFile, path: Path, folder: Path, base: str) -> list[str]:
    """One dial id per rated dimension, none of them in the session already."""
    names = [base] if len(rating.series) == 1 else [f"{base}-{_code(s.name, 40)}" for s in rating.series]
    if len(set(names)) != len(names):
        raise RatingFileError(
            f"{path}: rating columns {', '.join(s.name for s in rating.series)} give the same dial ids"
        )
    if (folder / META_FILE).exists():
        taken = set(SessionMeta.load(folder).dials) & set(names)
        if taken:
            raise RatingFileError(
                f"session {folder.name} already has dial {sorted(taken)[0]}: give another --dial"
            )
    return names


def import_file(
    fmt: Format,
    path: Path,
    *,
    session: str,
    role: str | list[str],
    out: Path,
    dial: str | None = None,
    layout: ColumnLayout | None = None,
    codes: Codes | None = None,
) -> list[str]:
    """Write the file's ratings into out/<session>; returns the dial ids it added."""
    rating = reader(fmt)(path, layout)
    roles = [role] if isinstance(role, str) else role
    if len(roles) == 1:
        roles = roles * len(rating.series)
    if len(roles) != len(rating.series):
        raise RatingFileError(
            f"{path}: {len(rating.series)} rated dimensions but {len(roles)} roles: give one --role, or one per --value"
        )
    tool = layout.tool if layout is not None and layout.tool else fmt
    folder = out / session
    names = _dial_names(rating, path, folder, dial or _code(f"{tool}-{path.stem}", 60))
    for series in rating.series:
        if not series.points:
            raise RatingFileError(f"{path}: no ratings for {series.name}")
    given = None if layout is None else layout.changes_only
    try:
        samples: dict[str, list[Sample]] = {
            name: [
                ImportedSample(
                    dial=name,
                    role=series_role,
                    session=session,
                    participant=codes.participant if codes else None,
                    value=to_scale(value, series.low, series.high),
                    seq=index,
                    device_time=second,
                    host_time=second,
                    host_monotonic=second,
                    media_time=second,
                    playback="playing",
                    player=tool,
                    media=rating.media,
                )
                for index, second, value in series.points
            ]
            for name, series, series_role in zip(names, rating.series, roles, strict=True)
        }
    except ValidationError as err:
        raise RatingFileError(f"{path}: {err.errors()[0]['loc']}: {err.errors()[0]['msg']}") from None

    record = SessionRecord(out, session, window=1)
    try:
        for name, series in zip(names, rating.series, strict=True):
            record.on_samples(name, samples[name])
            meta = record.dials[name].meta
            meta.source = f"import:{fmt}"
            held = changes_only_log([p[1] for p in series.points], [p[2] for p in series.points])
            meta.imported = {
                "format": fmt,
                "tool": tool,
                "file": path.name,
                "dimension": series.name,
                "time_of_rating": rating.time_of_rating,
                "scale_from": [series.low, series.high],
                "lower_label": series.lower_label,
                "upper_label": series.upper_label,
                "changes_only": held if given is None else given,
            }
        if codes is not None:
            record.meta.treatment = codes.treatment or record.meta.treatment
            record.meta.participant = codes.participant or record.meta.participant
        if rating.axis_label and not record.meta.construct_name:
            record.meta.construct_name = rating.axis_label
        record.meta_changed = True
        for second in rating.buttons:
            record.write_event(
                RecordedEvent(
                    host_time=second,
                    source="import",
                    dial=names[0],
                    role=roles[0],
                    kind="button",
                    media_time=second,
                )
            )
    finally:
        record.close()
    return names


class ImportRequest(BaseModel):
    """What `microdial import` is asked, named as its flags are."""

    model_config = ConfigDict(extra="ignore")

    format: Format
    file: Path
    session: Code
    role: list[Code]
    out: Path = Path("recordings")
    dial: Code | None = None
    # The columns format's layout (ColumnLayout), given flag by flag.
    time: str | None = None
    time_unit: Literal["s", "ms"] = "s"
    value: list[str] = []
    scale: tuple[float, float] | None = None
    tool: str | None = None
    lower_label: str | None = None
    upper_label: str | None = None
    changes_only: bool | None = None
    treatment: Code | None = None
    participant: Code | None = None

    def layout(self) -> ColumnLayout | None:
        if self.format != "columns":
            if self.time or self.value or self.scale or self.tool:
                raise ConfigError(f"--time, --value, --scale and --tool are for 'columns', not {self.format}")
            if self.changes_only is None:
                return None
            return ColumnLayout(time="", values=[], low=0, high=1, changes_only=self.changes_only)
        if self.time is None or not self.value or self.scale is None:
            raise ConfigError("columns needs --time COLUMN, --value COLUMN and --scale LOW HIGH")
        return ColumnLayout(
            time=self.time,
            values=self.value,
            low=self.scale[0],
            high=self.scale[1],
            time_unit=self.time_unit,
            tool=self.tool,
            lower_label=self.lower_label,
            upper_label=self.upper_label,
            changes_only=self.changes_only,
        )


def import_request(flags: dict[str, object]) -> list[str]:
    """`microdial import`: its flags checked (a ConfigError naming the flag), then import_file."""
    try:
        request = ImportRequest.model_validate(flags)
    except ValidationError as err:
        error = err.errors()[0]
        flag = f"--{str(error['loc'][0]).replace('_', '-')} {error['input']!r}"
        if error["type"] == "string_pattern_mismatch":
            raise ConfigError(f"{flag}: use letters, digits, '_', '.', '-' (at most 64)") from None
        raise ConfigError(f"{flag}: {error['msg']}") from None
    if request.session in (".", ".."):
        raise ConfigError(f"--session {request.session!r} is not a session code")
    return import_file(
        request.format,
        request.file,
        session=request.session,
        role=request.role,
        out=request.out,
        dial=request.dial,
        layout=request.layout(),
        codes=Codes(treatment=request.treatment, participant=request.participant),
    )
