"""What every importer shares: the rating file model, reading cells from .csv and .xlsx, the
key,value header block CARMA and DARMA write, number parsing, and the mapping onto dialwire's scale.

Text tables are read as European labs write them too: UTF-8 (with or without a BOM), else cp1252,
else Latin-1; `,`, `;` or tab between cells (tab, then `;`, when at least half the lines hold one);
a decimal comma in a number ("12,5") read as a point."""

from __future__ import annotations

import csv
import itertools
import math
import re
import zipfile
from pathlib import Path
from typing import Literal
from xml.etree import ElementTree

from pydantic import BaseModel

from dialwire import VALUE_MAX, VALUE_MIN
from microdial.errors import MicrodialError

Format = Literal["carma", "darma", "columns", "continuum"]
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
# A value is kept as mapped, to the grid's precision, not rounded to a whole dial position.
DIGITS = 6
SEPARATOR = "%%%%%%"


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
    axis_label: str | None = None  # what was rated, when the file says (Continuum's scale_axis_label)


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
    # None: detected (changes_only_log); True: a row only when the value changed, held until the next.
    changes_only: bool | None = None


def number(cell: str, where: str) -> float:
    try:
        return float(cell)
    except ValueError:
        if re.fullmatch(r"[-+]?\d*,\d+", cell):
            return float(cell.replace(",", "."))
        raise RatingFileError(f"{where}: {cell!r} is not a number") from None


def to_scale(value: float, low: float, high: float) -> float:
    """A value of the source scale low..high, mapped linearly onto dialwire's (to 1e-6 points)."""
    if high <= low:
        raise RatingFileError(f"scale {low}..{high} is empty")
    scaled = VALUE_MIN + (value - low) / (high - low) * (VALUE_MAX - VALUE_MIN)
    return max(float(VALUE_MIN), min(float(VALUE_MAX), round(scaled, DIGITS)))


def changes_only_log(times: list[float], values: list[float]) -> bool:
    """A log written only when the value changed: at least 10 rows, no two in a row alike, and
    steps far from regular (the longest over twice the median), as a sampled trace never is."""
    if len(values) < 10 or any(a == b for a, b in itertools.pairwise(values)):
        return False
    steps = sorted(b - a for a, b in itertools.pairwise(times))
    return steps[-1] > 2 * steps[len(steps) // 2] > 0


# -- reading cells ------------------------------------------------------------------------


def rows(path: Path) -> list[list[str]]:
    """The cells of a .csv, or of an .xlsx's first worksheet, as text."""
    if not path.is_file():
        raise RatingFileError(f"no file {path}")
    if path.suffix.lower() == ".xlsx":
        return _xlsx_rows(path)
    if path.suffix.lower() == ".xls":
        raise RatingFileError(f"{path}: old .xls workbooks cannot be read; save it as .xlsx or .csv")
    return split(text_lines(path), path)


def text_lines(path: Path) -> list[str]:
    """A text file's lines, in the first of ENCODINGS that decodes it."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise RatingFileError(f"cannot read {path}: {err.strerror}") from None
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding).splitlines()
        except UnicodeDecodeError:
            continue
    raise RatingFileError(f"cannot read {path}: not text")  # unreachable: Latin-1 decodes any byte


def delimiter(lines: list[str]) -> str:
    filled = [line for line in lines if line.strip()]
    for candidate in ("\t", ";"):
        if filled and sum(candidate in line for line in filled) * 2 >= len(filled):
            return candidate
    return ","


def split(lines: list[str], path: Path) -> list[list[str]]:
    try:
        return [[cell.strip() for cell in row] for row in csv.reader(lines, delimiter=delimiter(lines))]
    except csv.Error as err:
        raise RatingFileError(f"cannot read {path}: {err}") from None


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
    table: list[list[str]] = []
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
        table.append(cells)
    return table


def _column(reference: str) -> int | None:
    letters = re.match(r"[A-Z]+", reference)
    if letters is None:
        return None
    index = 0
    for letter in letters.group():
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


# -- CARMA's and DARMA's header block -------------------------------------------------------


def header_block(table: list[list[str]], path: Path) -> tuple[dict[str, list[str]], list[list[str]]]:
    """The key,value rows above the %%%%%% line, and the data rows below it."""
    for index, row in enumerate(table):
        if row and row[0] == SEPARATOR:
            header = {r[0]: r[1:] for r in table[:index] if r and r[0]}
            return header, [r for r in table[index + 1 :] if any(r)]
    raise RatingFileError(
        f"{path}: no {SEPARATOR} line under the header block; is this a CARMA/DARMA export?"
    )


def header_rating(
    fmt: Format, path: Path, header: dict[str, list[str]], series: list[Series], buttons: list[float]
) -> RatingFile:
    """A rating file with what its header block says about the video and the rating session."""
    return RatingFile(
        format=fmt,
        source=str(path),
        media=maybe(header, "Multimedia File"),
        time_of_rating=maybe(header, "Time of Rating"),
        series=series,
        buttons=buttons,
    )


def maybe(header: dict[str, list[str]], key: str) -> str | None:
    values = header.get(key)
    return values[0] if values and values[0] else None


def first(header: dict[str, list[str]], key: str, path: Path) -> str:
    value = maybe(header, key)
    if value is None:
        raise RatingFileError(f"{path}: no '{key}' in the header block")
    return value


def points(data: list[list[str]], column: int, path: Path) -> list[tuple[int, float, float]]:
    """(bin index, second, value) of the rows whose first cell is the second; NaN bins left out."""
    found: list[tuple[int, float, float]] = []
    for index, row in enumerate(data):
        where = f"{path} data row {index + 1}"
        if len(row) <= column:
            raise RatingFileError(f"{where}: expected at least {column + 1} cells")
        second = number(row[0], where)
        value = number(row[column], where)
        if not math.isnan(value):
            found.append((index, second, value))
    return found
