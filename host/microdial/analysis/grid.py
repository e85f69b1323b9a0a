"""Per-second grid: one value per media second per rater, from a recorder session folder.

Rules (also in docs/analysis.md):

* Clock. The session's, by the rule in ``store.reader.Timeline``: if any sample of the session
  carries a ``media_time``, the grid is on the media clock (seconds of the video) and samples
  without one (no player known at that moment) add nothing. If no sample has one, the grid is on
  the session clock: ``host_time`` minus the session's first sample across all dials, so the
  raters stay aligned with each other.
* Step function. A dial value holds from its sample until the next sample of the same dial, and
  never longer than the hold: ``max_hold`` seconds (0.5), or the dial's median sample interval if
  that is longer (a 1 Hz import holds each value one second, so a lost second stays a gap). On the
  media clock the held segment runs from the sample's media time to the next sample's media time
  when that is at most the host-clock step plus POSITION_STEP (0.25 s: players report their
  position in steps) ahead; when the next sample is a seek (``discontinuity``), jumps backwards or
  further ahead, the segment is the host-clock interval instead. Either way it ends at the hold.
  A changes-only log (an import with ``changes_only`` in session.json) holds each value until the
  next row, however long. The last sample holds for the dial's median sample interval.
* Pauses. Segments that start while ``playback`` is ``paused``, ``seeking`` or ``no-player`` cover
  no media time, so a paused second is not counted twice and its dial turns while paused are
  ignored; the value at the pause carries on once playback resumes (it is the next segment).
* Mean. A second's value is the time-weighted mean of the step function over that second, i.e.
  each value weighted by how long it was held within the second, not by how many samples arrived.
* Re-watching. After a seek backwards a second can be rated more than once; its value is the
  time-weighted mean over every viewing (each full viewing counts equally).
* Precision. Values are rounded to 1e-6 scale points.
* Gaps. A second with less than ``min_coverage`` seconds of rated time is empty (NaN, an empty CSV
  cell), never interpolated. ``n_samples`` counts the samples whose held segment starts in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from microdial.errors import MicrodialError
from microdial.store.format import SessionMeta
from microdial.store.reader import DialSamples, FloatArray, Timeline, read_session

IntArray = npt.NDArray[np.int64]

POSITION_STEP = 0.25


class AnalysisError(MicrodialError):
    """A session folder or scores file cannot be analysed as given (the files are left untouched)."""


@dataclass(frozen=True)
class GridOptions:
    max_hold: float = 0.5
    min_coverage: float = 0.5


@dataclass
class RaterSeries:
    rater: str  # role, or role.dial when two dials share a role
    role: str
    dial: str
    value: FloatArray  # NaN = gap
    n_samples: IntArray
    coverage: FloatArray  # rated seconds within each second, summed over viewings


@dataclass
class Grid:
    session: str
    clock: str  # "media" or "session"
    scale_min: int
    scale_max: int
    scale_labels: dict[int, str]
    seconds: IntArray
    raters: list[RaterSeries] = field(default_factory=list)

    def rater(self, name: str) -> RaterSeries:
        for series in self.raters:
            if series.rater == name:
                return series
        raise AnalysisError(
            f"no rater {name!r} in session {self.session} (raters: {', '.join(self.rater_names) or 'none'})"
        )

    @property
    def rater_names(self) -> list[str]:
        return [series.rater for series in self.raters]


def _segments(
    samples: DialSamples, positions: FloatArray, media_clock: bool, max_hold: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(start, end, value) of every held segment on the grid's clock."""
    host = samples.host_time
    if host.size > 1:
        host_step = np.diff(host)
        last_step = float(np.median(host_step))
    else:
        host_step = np.empty(0)
        last_step = min(max_hold, 1.0)
    # A slow source (1 Hz imports) holds each value for its own interval, no longer.
    hold = max(max_hold, last_step)
    host_step = np.minimum(np.append(host_step, last_step), hold)
    start = positions
    end = start + host_step
    if media_clock:
        nxt = np.append(positions[1:], np.nan)
        nxt_disc = np.append(samples.discontinuity[1:], True)
        # A player reports its position in steps (up to POSITION_STEP apart): a value holds to the
        # next sample's media time when that is that close ahead, and never beyond the hold.
        follows = ~nxt_disc & (nxt >= start) & (nxt - start <= host_step + POSITION_STEP)
        end = np.where(follows, np.minimum(nxt, start + hold), end)
    usable = ~samples.still & np.isfinite(start) & (end > start)
    return start[usable], end[usable], samples.value[usable]


def _accumulate(
    start: FloatArray, end: FloatArray, value: FloatArray, n_seconds: int
) -> tuple[FloatArray, FloatArray, IntArray]:
    start = np.maximum(start, 0.0)
    # Clipped to the grid first, so every piece below is inside it and needs no mask.
    end = np.minimum(end, float(n_seconds))
    keep = end > start
    start, end, value = start[keep], end[keep], value[keep]
    first = np.floor(start).astype(np.int64)
    counts = np.bincount(first, minlength=n_seconds)
    weighted = np.zeros(n_seconds)
    covered = np.zeros(n_seconds)
    # max_hold bounds a segment's span, so a few passes over "k-th second it touches" suffice;
    # each pass after the first takes only the segments that reach that far (few at 100 Hz).
    span = int(np.max(np.ceil(end) - first)) if first.size else 0
    for k in range(span):
        if k:
            reach = end > first + k
            start, end, value, first = start[reach], end[reach], value[reach], first[reach]
        second = first + k
        # A segment starts in its first second and covers every later one from its beginning.
        lo = start if k == 0 else second.astype(np.float64)
        piece = np.minimum(end, second + 1.0) - lo
        weighted += np.bincount(second, weights=piece * value, minlength=n_seconds)
        covered += np.bincount(second, weights=piece, minlength=n_seconds)
    return weighted, covered, counts.astype(np.int64)


def changes_only(meta: SessionMeta, dial: str) -> bool:
    """Whether the dial's samples are a log written only when the value changed (store.importers)."""
    known = meta.dials.get(dial)
    return bool(known is not None and known.imported and known.imported.get("changes_only"))


def build_grid(meta: SessionMeta, dials: list[DialSamples], options: GridOptions | None = None) -> Grid:
    options = options or GridOptions()
    timeline = Timeline.of(dials)
    media_clock = timeline.clock == "media"
    per_dial = []
    for samples in dials:
        positions = timeline.place(samples.host_time, samples.media_time)
        if samples.host_time.size:
            hold = math.inf if changes_only(meta, samples.dial) else options.max_hold
            per_dial.append(_segments(samples, positions, media_clock, hold))
        else:
            per_dial.append((positions, positions, samples.value))
    ends = [float(end.max()) for _, end, _ in per_dial if end.size]
    n_seconds = max(1, math.ceil(max(ends))) if ends else 0
    roles = [d.role for d in dials]
    grid = Grid(
        session=meta.session,
        clock=timeline.clock,
        scale_min=meta.scale.min,
        scale_max=meta.scale.max,
        scale_labels=dict(meta.scale.labels),
        seconds=np.arange(n_seconds, dtype=np.int64),
    )
    for samples, (start, end, value) in zip(dials, per_dial, strict=True):
        weighted, covered, counts = _accumulate(start, end, value, n_seconds)
        with np.errstate(invalid="ignore", divide="ignore"):
            # Rounded so float noise from summing pieces does not show up as -19.999999999999986.
            raw = np.where(covered >= options.min_coverage, weighted / covered, np.nan)
            mean = np.asarray(np.round(raw, 6), dtype=np.float64)
        name = samples.role if roles.count(samples.role) == 1 else f"{samples.role}.{samples.dial}"
        grid.raters.append(
            RaterSeries(
                rater=name,
                role=samples.role,
                dial=samples.dial,
                value=mean,
                n_samples=counts,
                coverage=covered,
            )
        )
    return grid


def grid_for(session_dir: Path, options: GridOptions | None = None) -> Grid:
    session = read_session(session_dir)
    return build_grid(session.meta, session.dials, options)


def export_grid(session_dir: Path, out: Path | None = None, options: GridOptions | None = None) -> list[Path]:
    """`microdial export`: the grid files of a session folder, in out (default: the folder itself)."""
    return write_grid(grid_for(session_dir, options), out or session_dir)


def long_table(grid: Grid) -> pa.Table:
    n = grid.seconds.size
    values = np.concatenate([s.value for s in grid.raters]) if grid.raters else np.empty(0)
    return pa.table(
        {
            "second": pa.array(np.tile(grid.seconds, len(grid.raters))),
            "role": pa.array([s.rater for s in grid.raters for _ in range(n)], pa.string()),
            "dial": pa.array([s.dial for s in grid.raters for _ in range(n)], pa.string()),
            "value": pa.array(values, mask=np.isnan(values)),
            "n_samples": pa.array(
                np.concatenate([s.n_samples for s in grid.raters]) if grid.raters else np.empty(0, np.int64)
            ),
        }
    )


def wide_table(grid: Grid) -> pa.Table:
    columns: dict[str, pa.Array] = {"second": pa.array(grid.seconds)}
    for series in grid.raters:
        columns[series.rater] = pa.array(series.value, mask=np.isnan(series.value))
    return pa.table(columns)


def write_grid(grid: Grid, out_dir: Path) -> list[Path]:
    """grid.long.{csv,parquet} and grid.wide.{csv,parquet}; nulls are empty CSV cells."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AnalysisError(f"cannot create {out_dir}: {err}") from None
    written = []
    for form, table in (("long", long_table(grid)), ("wide", wide_table(grid))):
        csv_path = out_dir / f"grid.{form}.csv"
        parquet_path = out_dir / f"grid.{form}.parquet"
        try:
            pacsv.write_csv(table, csv_path, pacsv.WriteOptions(quoting_style="needed"))
            pq.write_table(table, parquet_path)
        except OSError as err:
            raise AnalysisError(f"cannot write {csv_path.parent}: {err}") from None
        written += [csv_path, parquet_path]
    return written
