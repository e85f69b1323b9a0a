"""Ruptures and repairs within one rater's per-second series.

Windows (which stretches are candidates), by `mode`:
  * "lowest" (default, the published method): the k lowest-rated `segment`-second windows.
  * "drop": the k windows with the largest drop below the rater's preceding level, the mean of the
    `baseline` seconds before the window.
  A window [t, t + segment) and a preceding window [t - baseline, t) are cut at the session's
  edges, and each needs at least half its nominal seconds rated (so a rupture 30 s into the session
  or 15 s before its end can be found). Windows are taken greedily, best first, each start at least
  `segment + separation` seconds from every start already taken; a window whose fall is one already
  taken (its onset lies within a taken rupture) is passed over.

Pre-rupture level: the level the rating fell from. In "drop" mode the preceding mean of the window;
in "lowest" mode the highest preceding mean at any start within `lookback` seconds before the window,
so a long stretch at the minimum reached by a slow slide is measured from the top of the slide.
A window counts when its mean is at least min_depth below the pre-rupture level (mean_drop).

Rupture times: onset is where the rating falls: the second after the last one, before the trough and
no earlier than a baseline before where the pre-level was measured, still within FALL_TOLERANCE
(10 %) of the depth below the pre-level; trough is the lowest second in the window; end is where it
recovers (the repair's end), or the session's end when unresolved.

Repair: from the trough, the first rated second at or above pre_level - (1 - repair_fraction) * depth
- repair_tolerance ends it; repair_tolerance (1 scale point, one dial step, by default) counts a
return to the pre-rupture dial position even when the pre-level, a mean, sits between two positions.
Its onset is where the rating turns upward: the last second between trough and end still within
FALL_TOLERANCE of the depth above the trough value. time_to_repair = end - onset, size = value at end
- value at onset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

FloatArray = npt.NDArray[np.float64]
Mode = Literal["lowest", "drop"]

FALL_TOLERANCE = 0.1


@dataclass(frozen=True)
class RuptureOptions:
    mode: Mode = "lowest"
    k: int = 3
    segment: int = 30
    separation: int = 30
    baseline: int = 60
    lookback: int = 600
    min_depth: float = 5.0
    repair_fraction: float = 1.0
    repair_tolerance: float = 1.0


class Repair(BaseModel):
    model_config = ConfigDict(frozen=True)

    onset: int
    end: int
    time_to_repair: int
    time_from_trough: int
    size: float
    level: float


class Rupture(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: int
    onset: int
    trough: int
    end: int
    window_start: int
    window_end: int
    pre_level: float
    trough_value: float
    depth: float
    mean_drop: float
    repair: Repair | None
    unresolved: bool


def _rolling_mean(v: FloatArray, width: int) -> tuple[FloatArray, FloatArray]:
    """Mean and count of rated seconds in [t, t + width) cut at the end, for every t."""
    valid = np.isfinite(v)
    sums = np.concatenate([[0.0], np.cumsum(np.where(valid, v, 0.0))])
    counts = np.concatenate([[0.0], np.cumsum(valid)])
    starts = np.arange(v.size)
    ends = np.minimum(starts + width, v.size)
    count = counts[ends] - counts[starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (sums[ends] - sums[starts]) / count
    return np.where(count > 0, mean, np.nan), count


def windows(v: FloatArray, options: RuptureOptions) -> tuple[FloatArray, FloatArray]:
    """(window mean, preceding mean) per start second; NaN where a window has < half its seconds rated."""
    seg_mean, seg_count = _rolling_mean(v, options.segment)
    padded = np.concatenate([np.full(options.baseline, np.nan), v])
    pre_mean, pre_count = _rolling_mean(padded, options.baseline)
    pre_mean, pre_count = pre_mean[: v.size], pre_count[: v.size]
    seg = np.where(seg_count >= options.segment / 2, seg_mean, np.nan)
    pre = np.where(pre_count >= options.baseline / 2, pre_mean, np.nan)
    return seg, pre


def drops(v: FloatArray, options: RuptureOptions) -> tuple[FloatArray, FloatArray]:
    """(drop score per start second, preceding level per start second); NaN where undefined."""
    seg, pre = windows(v, options)
    return pre - seg, pre


def _level_before(pre: FloatArray, start: int, options: RuptureOptions) -> tuple[float, int]:
    """(pre-rupture level, where it was measured) for a window starting at `start`."""
    if options.mode == "drop":
        return float(pre[start]), start
    first = max(0, start - options.lookback)
    span = pre[first : start + 1]
    if not np.isfinite(span).any():
        return float("nan"), start
    at = first + int(np.nanargmax(span))
    return float(pre[at]), at


def _onset(
    v: FloatArray, trough: int, pre_level: float, depth: float, measured_at: int, baseline: int
) -> int:
    first = max(0, measured_at - baseline)
    stretch = v[first:trough]
    high = np.flatnonzero(np.isfinite(stretch) & (stretch >= pre_level - FALL_TOLERANCE * depth))
    return first + int(high[-1]) + 1 if high.size else measured_at


def _repair(v: FloatArray, trough: int, pre: float, depth: float, options: RuptureOptions) -> Repair | None:
    level = pre - (1.0 - options.repair_fraction) * depth - options.repair_tolerance
    after = v[trough + 1 :]
    hits = np.flatnonzero(np.isfinite(after) & (after >= level - 1e-9))
    if hits.size == 0:
        return None
    end = trough + 1 + int(hits[0])
    stretch = v[trough:end]
    bottom = np.flatnonzero(np.isfinite(stretch) & (stretch <= v[trough] + FALL_TOLERANCE * depth))
    onset = trough + int(bottom[-1])
    return Repair(
        onset=onset,
        end=end,
        time_to_repair=end - onset,
        time_from_trough=end - trough,
        size=float(v[end] - v[onset]),
        level=float(level),
    )


def _sliding(v: FloatArray, width: int, fill: float, backwards: bool) -> npt.NDArray[np.float64]:
    """Rows of `width` values ending (backwards) or starting at each second, `fill` beyond the edges."""
    pad = np.full(width - 1, fill)
    padded = np.concatenate([pad, v] if backwards else [v, pad])
    return np.lib.stride_tricks.sliding_window_view(np.where(np.isnan(padded), fill, padded), width)


def levels(v: FloatArray, options: RuptureOptions) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(window mean, preceding mean, pre-rupture level, trough value) per start second; NaN where undefined."""
    seg, pre = windows(v, options)
    if options.mode == "lowest" and v.size:
        level = _sliding(pre, options.lookback + 1, -np.inf, backwards=True).max(axis=1)
        level = np.where(np.isfinite(level), level, np.nan)
    else:
        level = pre
    low = _sliding(v, options.segment, np.inf, backwards=False).min(axis=1) if v.size else v
    return seg, pre, level, np.where(np.isfinite(low), low, np.nan)


def _rupture(v: FloatArray, start: int, seg: FloatArray, pre: FloatArray, options: RuptureOptions) -> Rupture:
    pre_level, measured_at = _level_before(pre, start, options)
    window_end = min(start + options.segment, v.size)
    trough = start + int(np.nanargmin(v[start:window_end]))
    trough_value = float(v[trough])
    depth = pre_level - trough_value
    repair = _repair(v, trough, pre_level, depth, options)
    return Rupture(
        number=0,
        onset=_onset(v, trough, pre_level, depth, measured_at, options.baseline),
        trough=trough,
        end=v.size if repair is None else repair.end,
        window_start=start,
        window_end=window_end,
        pre_level=pre_level,
        trough_value=trough_value,
        depth=depth,
        mean_drop=pre_level - float(seg[start]),
        repair=repair,
        unresolved=repair is None,
    )


def find_ruptures(v: FloatArray, options: RuptureOptions | None = None) -> list[Rupture]:
    options = options or RuptureOptions()
    seg, pre, level, low = levels(v, options)
    mean_drop = level - seg
    with np.errstate(invalid="ignore"):
        eligible = np.isfinite(mean_drop) & (mean_drop >= options.min_depth) & (level > low)
    rank = np.where(eligible, -seg if options.mode == "lowest" else mean_drop, -np.inf)
    exclusion = options.segment + options.separation
    taken: list[Rupture] = []
    while len(taken) < options.k and np.isfinite(rank).any():
        start = int(np.argmax(rank))
        rank[max(0, start - exclusion + 1) : start + exclusion] = -np.inf
        found = _rupture(v, start, seg, pre, options)
        # Another window into the same fall (a long low stretch) is the same rupture.
        if not any(found.onset < r.window_end and r.onset < found.window_end for r in taken):
            taken.append(found)
    ordered = sorted(taken, key=lambda r: r.window_start)
    return [r.model_copy(update={"number": i}) for i, r in enumerate(ordered, start=1)]
