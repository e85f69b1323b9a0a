"""DARMA (github.com/jmgirard/DARMA) rates two dimensions with a joystick and exports

    Time of Rating,<date>,,
    Multimedia File,<name>,,
    Magnitude,<m>,,
    Second,<label X>,<label Y>,Button
    %%%%%%,%%%%%%,%%%%%%,%%%%%%
    1,x,y,button

with x and y in -m..m; each dimension becomes its own series (the importer makes them dials
<dial>-x and <dial>-y), and button presses become events.
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
    number,
    points,
    rows,
)


def read_darma(path: Path, layout: ColumnLayout | None = None) -> RatingFile:
    """The ratings of a DARMA export; `layout` is not used: the export states its own scale."""
    header, data = header_block(rows(path), path)
    labels = header.get("Second")
    if labels is None or len(labels) < 3 or labels[2] != "Button":
        raise RatingFileError(f"{path}: no 'Second,<X>,<Y>,Button' row; is this a DARMA export?")
    magnitude = number(first(header, "Magnitude", path), f"{path}: Magnitude")
    if magnitude <= 0:
        raise RatingFileError(f"{path}: Magnitude must be positive, not {magnitude}")
    buttons: list[float] = []
    pressed = False
    for _, second, value in points(data, 3, path):
        down = value > 0
        if down and not pressed:
            buttons.append(second)
        pressed = down
    return header_rating(
        "darma",
        path,
        header,
        [
            Series(
                name=name,
                low=-magnitude,
                high=magnitude,
                upper_label=label,
                points=points(data, column, path),
            )
            for column, (name, label) in enumerate(zip(("x", "y"), labels[:2], strict=True), start=1)
        ],
        buttons,
    )
