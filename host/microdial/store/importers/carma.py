"""CARMA (Girard, github.com/jmgirard/CARMA) exports one rating per bin of media time, with a
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
Midpoint Value,Maximum Value,Number of Steps,Second,Rating).
"""

from __future__ import annotations

from pathlib import Path

from microdial.store.importers.common import (
    ColumnLayout,
    RatingFile,
    RatingFileError,
    Series,
    first,
    header_block,
    header_rating,
    maybe,
    number,
    points,
    rows,
)


def read_carma(path: Path, layout: ColumnLayout | None = None) -> RatingFile:
    """The ratings of a CARMA export; `layout` is not used: the export states its own scale."""
    table = rows(path)
    if table and table[0][:1] == ["Filename"]:
        return _read_carma_table(table, path)
    header, data = header_block(table, path)
    if header.get("Second", [""])[0] != "Rating":
        raise RatingFileError(f"{path}: no 'Second,Rating' row; is this a CARMA export?")
    low = number(first(header, "Minimum Value", path), f"{path}: Minimum Value")
    high = number(first(header, "Maximum Value", path), f"{path}: Maximum Value")
    return header_rating(
        "carma",
        path,
        header,
        [
            Series(
                name="rating",
                low=low,
                high=high,
                lower_label=maybe(header, "Lower Label"),
                upper_label=maybe(header, "Upper Label"),
                points=points(data, 1, path),
            )
        ],
        [],
    )


def _read_carma_table(table: list[list[str]], path: Path) -> RatingFile:
    columns = table[0]
    needed = ("Filename", "Lower Label", "Upper Label", "Minimum Value", "Maximum Value", "Second", "Rating")
    missing = [name for name in needed if name not in columns]
    if missing:
        raise RatingFileError(f"{path}: missing columns {', '.join(missing)}")
    at = {name: columns.index(name) for name in needed}
    data = [r for r in table[1:] if any(r)]
    if not data:
        raise RatingFileError(f"{path}: no ratings in it")
    top = data[0]
    reordered = [[r[at["Second"]], r[at["Rating"]]] for r in data]
    return RatingFile(
        format="carma",
        source=str(path),
        media=top[at["Filename"]] or None,
        series=[
            Series(
                name="rating",
                low=number(top[at["Minimum Value"]], f"{path}: Minimum Value"),
                high=number(top[at["Maximum Value"]], f"{path}: Maximum Value"),
                lower_label=top[at["Lower Label"]] or None,
                upper_label=top[at["Upper Label"]] or None,
                points=points(reordered, 1, path),
            )
        ],
    )
