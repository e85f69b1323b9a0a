"""Any other tool (Continuum, a lab's own slider, a spreadsheet typed from DialSmith printouts):
a table with a header row naming a time column (seconds or milliseconds of media time) and one or
more rating columns, with the scale given by the user, since such files rarely state it. Rows above
the header (a tool's preamble) are skipped.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from microdial.store.importers.common import ColumnLayout, RatingFile, RatingFileError, Series, number, rows


def read_columns(path: Path, layout: ColumnLayout | None = None) -> RatingFile:
    if layout is None:
        raise RatingFileError("columns needs the layout: --time COLUMN --value COLUMN --scale LOW HIGH")
    if layout.high <= layout.low:
        raise RatingFileError(f"scale {layout.low:g}..{layout.high:g} is empty: give --scale LOW HIGH")
    wanted = [layout.time, *layout.values]
    if len(set(wanted)) != len(wanted):
        raise RatingFileError("the time column and the rating columns must all differ")
    table = rows(path)
    for at, row in enumerate(table):
        if all(name in row for name in wanted):
            header, data = row, [r for r in table[at + 1 :] if any(r)]
            break
    else:
        raise RatingFileError(f"{path}: no header row with the columns {', '.join(repr(n) for n in wanted)}")
    series = [
        Series(
            name=name,
            low=layout.low,
            high=layout.high,
            lower_label=layout.lower_label,
            upper_label=layout.upper_label,
            points=_points(data, header, name, layout, path),
        )
        for name in layout.values
    ]
    return RatingFile(format="columns", source=str(path), series=series)


def _points(
    data: list[list[str]], header: list[str], name: str, layout: ColumnLayout, path: Path
) -> list[tuple[int, float, float]]:
    """(row index, second, value) of one rating column; empty and NaN cells left out."""
    time_column, column = header.index(layout.time), header.index(name)
    per_second = 1000.0 if layout.time_unit == "ms" else 1.0
    found: list[tuple[int, float, float]] = []
    for index, row in enumerate(data):
        where = f"{path} data row {index + 1}"
        if len(row) <= max(time_column, column):
            raise RatingFileError(f"{where}: expected at least {max(time_column, column) + 1} cells")
        second = number(row[time_column], where) / per_second
        if math.isnan(second) or second < 0:
            raise RatingFileError(f"{where}: time {row[time_column]!r} is not a media time")
        if row[column] == "":
            continue  # a tool that wrote nothing for this instant: a gap, like a NaN bin
        value = number(row[column], where)
        if not math.isnan(value):
            if not layout.low <= value <= layout.high:
                raise RatingFileError(
                    f"{where}: {name} {value:g} is outside the scale {layout.low:g}..{layout.high:g}"
                )
            found.append((index, second, value))
    if any(later[1] < earlier[1] for earlier, later in itertools.pairwise(found)):
        raise RatingFileError(f"{path}: the times in {layout.time!r} go backwards; sort the file first")
    return found
