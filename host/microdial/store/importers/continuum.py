"""Continuum (github.com/jmgirard/continuum) exports a self-describing CSV:

    # app_version: ...
    # scale_min: -1
    # scale_max: 1
    # scale_lower_label: ...      (and scale_upper_label, scale_axis_label, media_reference,
    # created_at: ...              sampling_mode, study_id, exported_at, dimensionality)
    sample_index,media_time_s,value
    0,0.016,0.25

one row per raw sample (per video frame or at 100 Hz), values as the slider gave them. The scale,
its labels and the construct (the axis label) come from the metadata lines.
"""

from __future__ import annotations

from pathlib import Path

from microdial.store.importers.columns import read_columns
from microdial.store.importers.common import ColumnLayout, RatingFile, RatingFileError, number, text_lines


def metadata(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text_lines(path):
        if not line.startswith("#"):
            break
        key, sep, value = line[1:].partition(":")
        if sep:
            found[key.strip()] = value.strip()
    return found


def read_continuum(path: Path, layout: ColumnLayout | None = None) -> RatingFile:
    """The ratings of a Continuum export; `layout` may only say whether it is a changes-only log."""
    meta = metadata(path)
    missing = [key for key in ("scale_min", "scale_max") if key not in meta]
    if missing:
        raise RatingFileError(f"{path}: no '# {missing[0]}: ...' line; is this a Continuum export?")
    own = ColumnLayout(
        time="media_time_s",
        values=["value"],
        low=number(meta["scale_min"], f"{path}: scale_min"),
        high=number(meta["scale_max"], f"{path}: scale_max"),
        tool="continuum",
        lower_label=meta.get("scale_lower_label") or None,
        upper_label=meta.get("scale_upper_label") or None,
        changes_only=None if layout is None else layout.changes_only,
    )
    rating = read_columns(path, own)
    return rating.model_copy(
        update={
            "format": "continuum",
            "media": meta.get("media_reference") or None,
            "time_of_rating": meta.get("created_at") or None,
            "axis_label": meta.get("scale_axis_label") or None,
        }
    )
