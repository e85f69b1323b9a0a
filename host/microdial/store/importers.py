"""Ratings made with other tools, brought into a session folder next to the dials' own.

CARMA (Girard, github.com/jmgirard/CARMA) exports one rating per bin of media time, with a
header block of two-column rows, in .csv or .xlsx:

    Time of Rating,13-Dec-2021 07:36:40
    Multimedia File,session.mp4
    Lower Label,Weakest possible
    Upper Label,Strongest possible
    Minimum Value,-100
    Maximum Value,100
    Number of Steps,9
    Second,Rating
    %%%%%%,%%%%%%
    1,7.80
    ...

Older CARMA versions wrote one table instead (Filename,Lower Label,Upper Label,Minimum Value,
Midpoint Value,Maximum Value,Number of Steps,Second,Rating). DARMA (github.com/jmgirard/DARMA)
rates two dimensions with a joystick and exports

    Time of Rating,<date>,,
    Multimedia File,<name>,,
    Magnitude,<m>,,
    Second,<label X>,<label Y>,Button
    %%%%%%,%%%%%%,%%%%%%,%%%%%%
    1,x,y,button

with x and y in -m..m; each dimension becomes its own dial (<dial>-x, <dial>-y), and button
presses become events. Empty bins (NaN) are left out, so they show as sequence gaps.

Any other tool (Continuum, a lab's own slider, a spreadsheet typed from DialSmith printouts)
comes in through `columns`: a table with a header row naming a time column (seconds or
milliseconds of media time) and one or more rating columns, with the scale given by the user,
since such files rarely state it. Rows above the header (a tool's preamble) are skipped.

Values are mapped linearly onto the microdial scale (-50..50); the source scale and labels are
kept in session.json under the dial's `imported` entry. Imported samples carry media time only:
their host_time and host_monotonic are the media time too, and `player` names the tool.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
import zipfile
from pathlib import Path
from typing import Literal
from xml.etree import ElementTree

from pydantic import BaseModel, ValidationError

from dialwire import VALUE_MAX, VALUE_MIN
from microdial.errors import MicrodialError
from microdial.model import Sample
from microdial.store.format import META_FILE, RecordedEvent, SessionMeta
from microdial.store.writer import SessionRecord

Format = Literal["carma", "darma", "columns"]
FORMATS: tuple[Format, ...] = ("carma", "darma", "columns")
_SEPARATOR = "%%%%%%"


class RatingFileError(MicrodialError):
    """A rating file that cannot be imported; the session folder is left as it was."""


class Series(BaseModel):
    """One rated dimension: (media second, value in the source scale) pairs, NaN bins left out."""

    name: str
    low: float
    high: float
    lower_label: str | None = None
    upper_label: str | None = None
    points: list[tuple[int, float, float]]  # (bin index, second, value)


class RatingFile(BaseModel):
    format: Format
    source: str
    media: str | None = None
    time_of_rating: str | None = None
    series: list[Series]
    buttons: list[float] = []  # seconds at which the button went down


class ColumnLayout(BaseModel):
    """Where the ratings are in a plain table, and the scale they were made on."""

    time: str
    values: list[str]
    low: float
    high: float
    time_unit: Literal["s", "ms"] = "s"
    # The program that wrote the file, recorded as the samples' player (e.g. "continuum").
    tool: str | None = None
    lower_label: str | None = None
    upper_label: str | None = None


def _number(cell: str, where: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise RatingFileError(f"{where}: {cell!r} is not a number") from None


# -- reading cells ------------------------------------------------------------------------


def _xlsx_rows(path: Path) -> list[list[str]]:
    """The first worksheet of an .xlsx as rows of text cells (the standard library reads it)."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    try:
        with zipfile.ZipFile(path) as book:
            shared: list[str] = []
            if "xl/sharedStrings.xml" in book.namelist():
                root = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
                shared = ["".join(t.text or "" for t in si.iter(f"{{{ns['m']}}}t")) for si in root]
            sheets = sorted(n for n in book.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))
            if not sheets:
                raise RatingFileError(f"{path}: no worksheet in this .xlsx")
            sheet = ElementTree.fromstring(book.read(sheets[0]))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as err:
        raise RatingFileError(f"{path}: not a readable .xlsx file ({err})") from None
    rows: list[list[str]] = []
    for row in sheet.iter(f"{{{ns['m']}}}row"):
        cells: list[str] = []
        for cell in row.findall("m:c", ns):
            column = _column(cell.get("r", ""))
            while column is not None and len(cells) < column:
                cells.append("")
            kind = cell.get("t")
            value = cell.find("m:v", ns)
            if kind == "s" and value is not None and value.text is not None:
                text = shared[int(value.text)]
            elif kind == "inlineStr":
                text = "".join(t.text or "" for t in cell.iter(f"{{{ns['m']}}}t"))
            else:
                text = value.text or "" if value is not None else ""
            cells.append(text)
        rows.append(cells)
    return rows


def _column(reference: str) -> int | None:
    letters = re.match(r"[A-Z]+", reference)
    if letters is None:
        return None
    index = 0
    for letter in letters.group():
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def _rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise RatingFileError(f"no file {path}")
    if path.suffix.lower() == ".xlsx":
        return _xlsx_rows(path)
    if path.suffix.lower() == ".xls":
        raise RatingFileError(f"{path}: old .xls workbooks cannot be read; save it as .xlsx or .csv")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [[cell.strip() for cell in row] for row in csv.reader(handle)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise RatingFileError(f"cannot read {path}: {err}") from None


# -- the formats ----------------------------------------------------------------------------


def _header_block(rows: list[list[str]], path: Path) -> tuple[dict[str, list[str]], list[list[str]]]:
    """The key,value rows above the %%%%%% line, and the data rows below it."""
    for index, row in enumerate(rows):
        if row and row[0] == _SEPARATOR:
            header = {r[0]: r[1:] for r in rows[:index] if r and r[0]}
            return header, [r for r in rows[index + 1 :] if any(r)]
    raise RatingFileError(
        f"{path}: no {_SEPARATOR} line under the header block; is this a CARMA/DARMA export?"
    )


def _points(
    data: list[list[str]], column: int, path: Path, first_line: int
) -> list[tuple[int, float, float]]:
    points: list[tuple[int, float, float]] = []
    for index, row in enumerate(data):
        where = f"{path} data row {index + first_line}"
        if len(row) <= column:
            raise RatingFileError(f"{where}: expected at least {column + 1} cells")
        second = _number(row[0], where)
        value = _number(row[column], where)
        if not math.isnan(value):
            points.append((index, second, value))
    return points


def read_carma(path: Path) -> RatingFile:
    rows = _rows(path)
    if rows and rows[0][:1] == ["Filename"]:
        return _read_carma_table(rows, path)
    header, data = _header_block(rows, path)
    if header.get("Second", [""])[0] != "Rating":
        raise RatingFileError(f"{path}: no 'Second,Rating' row; is this a CARMA export?")
    low = _number(_first(header, "Minimum Value", path), f"{path}: Minimum Value")
    high = _number(_first(header, "Maximum Value", path), f"{path}: Maximum Value")
    return RatingFile(
        format="carma",
        source=str(path),
        media=_maybe(header, "Multimedia File"),
        time_of_rating=_maybe(header, "Time of Rating"),
        series=[
            Series(
                name="rating",
                low=low,
                high=high,
                lower_label=_maybe(header, "Lower Label"),
                upper_label=_maybe(header, "Upper Label"),
                points=_points(data, 1, path, 1),
            )
        ],
    )


def _read_carma_table(rows: list[list[str]], path: Path) -> RatingFile:
    columns = rows[0]
    needed = ("Filename", "Lower Label", "Upper Label", "Minimum Value", "Maximum Value", "Second", "Rating")
    missing = [name for name in needed if name not in columns]
    if missing:
        raise RatingFileError(f"{path}: missing columns {', '.join(missing)}")
    at = {name: columns.index(name) for name in needed}
    data = [r for r in rows[1:] if any(r)]
    if not data:
        raise RatingFileError(f"{path}: no ratings in it")
    first = data[0]
    reordered = [[r[at["Second"]], r[at["Rating"]]] for r in data]
    return RatingFile(
        format="carma",
        source=str(path),
        media=first[at["Filename"]] or None,
        series=[
            Series(
                name="rating",
                low=_number(first[at["Minimum Value"]], f"{path}: Minimum Value"),
                high=_number(first[at["Maximum Value"]], f"{path}: Maximum Value"),
                lower_label=first[at["Lower Label"]] or None,
                upper_label=first[at["Upper Label"]] or None,
                points=_points(reordered, 1, path, 1),
            )
        ],
    )


def read_darma(path: Path) -> RatingFile:
    header, data = _header_block(_rows(path), path)
    labels = header.get("Second")
    if labels is None or len(labels) < 3 or labels[2] != "Button":
        raise RatingFileError(f"{path}: no 'Second,<X>,<Y>,Button' row; is this a DARMA export?")
    magnitude = _number(_first(header, "Magnitude", path), f"{path}: Magnitude")
    if magnitude <= 0:
        raise RatingFileError(f"{path}: Magnitude must be positive, not {magnitude}")
    buttons: list[float] = []
    pressed = False
    for _, second, value in _points(data, 3, path, 1):
        down = value > 0
        if down and not pressed:
            buttons.append(second)
        pressed = down
    return RatingFile(
        format="darma",
        source=str(path),
        media=_maybe(header, "Multimedia File"),
        time_of_rating=_maybe(header, "Time of Rating"),
        series=[
            Series(
                name="x",
                low=-magnitude,
                high=magnitude,
                upper_label=labels[0],
                points=_points(data, 1, path, 1),
            ),
            Series(
                name="y",
                low=-magnitude,
                high=magnitude,
                upper_label=labels[1],
                points=_points(data, 2, path, 1),
            ),
        ],
        buttons=buttons,
    )


def _maybe(header: dict[str, list[str]], key: str) -> str | None:
    values = header.get(key)
    return values[0] if values and values[0] else None


def _first(header: dict[str, list[str]], key: str, path: Path) -> str:
    value = _maybe(header, key)
    if value is None:
        raise RatingFileError(f"{path}: no '{key}' in the header block")
    return value


def read_columns(path: Path, layout: ColumnLayout) -> RatingFile:
    if layout.high <= layout.low:
        raise RatingFileError(f"scale {layout.low:g}..{layout.high:g} is empty: give --scale LOW HIGH")
    wanted = [layout.time, *layout.values]
    if len(set(wanted)) != len(wanted):
        raise RatingFileError("the time column and the rating columns must all differ")
    rows = _rows(path)
    for at, row in enumerate(rows):
        if all(name in row for name in wanted):
            header, data = row, rows[at + 1 :]
            break
    else:
        raise RatingFileError(f"{path}: no header row with the columns {', '.join(repr(n) for n in wanted)}")
    time_column = header.index(layout.time)
    per_second = 1000.0 if layout.time_unit == "ms" else 1.0
    series: list[Series] = []
    for name in layout.values:
        column = header.index(name)
        points: list[tuple[int, float, float]] = []
        for index, row in enumerate(r for r in data if any(r)):
            where = f"{path} data row {index + 1}"
            if len(row) <= max(time_column, column):
                raise RatingFileError(f"{where}: expected at least {max(time_column, column) + 1} cells")
            second = _number(row[time_column], where) / per_second
            if math.isnan(second) or second < 0:
                raise RatingFileError(f"{where}: time {row[time_column]!r} is not a media time")
            if row[column] == "":
                continue  # a tool that wrote nothing for this instant: a gap, like a NaN bin
            value = _number(row[column], where)
            if not math.isnan(value):
                if not layout.low <= value <= layout.high:
                    raise RatingFileError(
                        f"{where}: {name} {value:g} is outside the scale {layout.low:g}..{layout.high:g}"
                    )
                points.append((index, second, value))
        if any(later[1] < earlier[1] for earlier, later in itertools.pairwise(points)):
            raise RatingFileError(f"{path}: the times in {layout.time!r} go backwards; sort the file first")
        series.append(
            Series(
                name=name,
                low=layout.low,
                high=layout.high,
                lower_label=layout.lower_label,
                upper_label=layout.upper_label,
                points=points,
            )
        )
    return RatingFile(format="columns", source=str(path), series=series)


READERS = {"carma": read_carma, "darma": read_darma}


# -- into a session folder -----------------------------------------------------------------


def to_scale(value: float, low: float, high: float) -> int:
    if high <= low:
        raise RatingFileError(f"scale {low}..{high} is empty")
    scaled = VALUE_MIN + (value - low) / (high - low) * (VALUE_MAX - VALUE_MIN)
    return max(VALUE_MIN, min(VALUE_MAX, round(scaled)))


def import_file(
    fmt: Format,
    path: Path,
    *,
    session: str,
    role: str,
    out: Path,
    dial: str | None = None,
    layout: ColumnLayout | None = None,
) -> list[str]:
    """Write the file's ratings into out/<session>; returns the dial ids it added."""
    if fmt == "columns":
        if layout is None:
            raise RatingFileError("columns needs the layout: --time COLUMN --value COLUMN --scale LOW HIGH")
        rating = read_columns(path, layout)
    else:
        rating = READERS[fmt](path)
    tool = layout.tool if layout is not None and layout.tool else fmt
    base = dial or re.sub(r"[^A-Za-z0-9_.-]", "_", f"{tool}-{path.stem}")[:60]
    names = (
        [base]
        if len(rating.series) == 1
        else [f"{base}-{re.sub(r'[^A-Za-z0-9_.-]', '_', s.name)[:40]}" for s in rating.series]
    )
    if len(set(names)) != len(names):
        raise RatingFileError(
            f"{path}: rating columns {', '.join(s.name for s in rating.series)} give the same dial ids"
        )
    folder = out / session
    if (folder / META_FILE).exists():
        taken = set(SessionMeta.load(folder).dials) & set(names)
        if taken:
            raise RatingFileError(
                f"session {session} already has dial {sorted(taken)[0]}: give another --dial"
            )
    for series in rating.series:
        if not series.points:
            raise RatingFileError(f"{path}: no ratings for {series.name}")
    try:
        samples = {
            name: [
                Sample(
                    dial=name,
                    role=role,
                    session=session,
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
            for name, series in zip(names, rating.series, strict=True)
        }
    except ValidationError as err:
        raise RatingFileError(f"{path}: {err.errors()[0]['loc']}: {err.errors()[0]['msg']}") from None

    record = SessionRecord(out, session, window=1)
    try:
        for name, series in zip(names, rating.series, strict=True):
            record.on_samples(name, samples[name])
            meta = record.dials[name].meta
            meta.source = f"import:{fmt}"
            meta.imported = {
                "format": fmt,
                "tool": tool,
                "file": path.name,
                "dimension": series.name,
                "time_of_rating": rating.time_of_rating,
                "scale_from": [series.low, series.high],
                "lower_label": series.lower_label,
                "upper_label": series.upper_label,
            }
        for second in rating.buttons:
            record.write_event(
                RecordedEvent(
                    host_time=second,
                    source="import",
                    dial=names[0],
                    role=role,
                    kind="button",
                    media_time=second,
                )
            )
    finally:
        record.close()
    return names
