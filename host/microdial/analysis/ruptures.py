"""Ruptures and repairs within one rater's per-second series.

Rupture (a drop below the rater's own recent level):
  For every start second t, the segment is [t, t + segment) and the rater's preceding level is the
  mean of [t - baseline, t). The segment's drop is preceding level - segment mean; both means need
  at least half their seconds rated. The k segments with the largest drop (at least `min_depth`
  scale points) are taken greedily, largest first, each start at least `segment + separation`
  seconds from every start already taken, so segments never overlap and are `separation` apart.
  Reported per rupture: onset (segment start), trough (lowest second in the segment), end (segment
  end), pre_level, depth (pre_level - trough value) and mean_drop (the ranking score).

Repair (the rating comes back):
  From the trough, the first rated second at or above pre_level - (1 - repair_fraction) * depth
  ends the repair; its onset is where the rating turns upward: the last second between trough
  and that end still within RISE_TOLERANCE (10 %) of the depth above the trough value, so rating
  noise along the bottom does not pull the onset back to the trough. time_to_repair = end - onset, size = value at end - value at onset. With
  no such second before the session ends the rupture is unresolved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

FloatArray = npt.NDArray[np.float64]

RISE_TOLERANCE = 0.1


@dataclass(frozen=True)
class RuptureOptions:
    k: int = 3
    segment: int = 30
    separation: int = 30
    baseline: int = 60
    min_depth: float = 5.0
    repair_fraction: float = 1.0


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
    pre_level: float
    trough_value: float
    depth: float
    mean_drop: float
    repair: Repair | None
    unresolved: bool


def _rolling_mean(v: FloatArray, width: int) -> tuple[FloatArray, FloatArray]:
    """Mean and count of rated seconds in [t, t + width) for every t (NaN beyond the end)."""
    valid = np.isfinite(v)
    sums = np.concatenate([[0.0], np.cumsum(np.where(valid, v, 0.0))])
    counts = np.concatenate([[0.0], np.cumsum(valid)])
    n = v.size
    starts = np.arange(n)
    ends = np.minimum(starts + width, n)
    count = counts[ends] - counts[starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (sums[ends] - sums[starts]) / count
    mean[(starts + width > n) | (count == 0)] = np.nan
    return mean, count


def drops(v: FloatArray, options: RuptureOptions) -> tuple[FloatArray, FloatArray]:
    """(drop score per start second, preceding level per start second); NaN where undefined."""
    seg_mean, seg_count = _rolling_mean(v, options.segment)
    base_mean, base_count = _rolling_mean(v, options.baseline)
    pre = np.full(v.size, np.nan)
    pre_count = np.zeros(v.size)
    b = options.baseline
    if v.size > b:
        pre[b:] = base_mean[: v.size - b]
        pre_count[b:] = base_count[: v.size - b]
    enough = (seg_count >= options.segment / 2) & (pre_count >= b / 2)
    score = np.where(enough, pre - seg_mean, np.nan)
    return score, pre


def _repair(
    v: FloatArray, trough: int, trough_value: float, pre: float, depth: float, fraction: float
) -> Repair | None:
    level = pre - (1.0 - fraction) * depth
    after = v[trough + 1 :]
    hits = np.flatnonzero(np.isfinite(after) & (after >= level - 1e-9))
    if hits.size == 0:
        return None
    end = trough + 1 + int(hits[0])
    stretch = v[trough:end]
    bottom = np.flatnonzero(np.isfinite(stretch) & (stretch <= trough_value + RISE_TOLERANCE * depth))
    onset = trough + int(bottom[-1])
    return Repair(
        onset=onset,
        end=end,
        time_to_repair=end - onset,
        time_from_trough=end - trough,
        size=float(v[end] - v[onset]),
        level=float(level),
    )


def find_ruptures(v: FloatArray, options: RuptureOptions | None = None) -> list[Rupture]:
    options = options or RuptureOptions()
    score, pre = drops(v, options)
    open_ = np.isfinite(score) & (score >= options.min_depth)
    score = np.where(open_, score, -np.inf)
    taken: list[int] = []
    exclusion = options.segment + options.separation
    while len(taken) < options.k and np.isfinite(score).any():
        t = int(np.argmax(score))
        taken.append(t)
        score[max(0, t - exclusion + 1) : t + exclusion] = -np.inf
    ruptures = []
    for number, onset in enumerate(sorted(taken), start=1):
        segment = v[onset : onset + options.segment]
        trough = onset + int(np.nanargmin(segment))
        trough_value = float(v[trough])
        depth = float(pre[onset]) - trough_value
        repair = _repair(v, trough, trough_value, float(pre[onset]), depth, options.repair_fraction)
        ruptures.append(
            Rupture(
                number=number,
                onset=onset,
                trough=trough,
                end=onset + options.segment,
                pre_level=float(pre[onset]),
                trough_value=trough_value,
                depth=depth,
                mean_drop=float(pre[onset] - np.nanmean(segment)),
                repair=repair,
                unresolved=repair is None,
            )
        )
    return ruptures
