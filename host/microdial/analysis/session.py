"""One session's analysis: the grid, every pair of raters, each rater's ruptures and repairs, clips."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from microdial.analysis import stats
from microdial.analysis.grid import Grid, GridOptions, build_grid
from microdial.analysis.interview import LinkedAnswer, link_answers, read_interview
from microdial.analysis.quality import DataQuality, data_quality
from microdial.analysis.ruptures import Rupture, RuptureOptions, find_ruptures
from microdial.store.reader import read_session

# Client first, then therapist, so differences read client - therapist.
ROLE_ORDER = ("client", "therapist")
# What a session rated when session.json does not say (its construct_name).
DEFAULT_CONSTRUCT = "Working alliance"


@dataclass(frozen=True)
class AnalyzeOptions:
    grid: GridOptions = field(default_factory=GridOptions)
    ruptures: RuptureOptions = field(default_factory=RuptureOptions)
    max_lag: int = 10
    window: int = 30
    window_step: int = 5
    clip_seconds: int = 120


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class PairResult(_Model):
    first: str
    second: str
    # The statistics' own result types: pydantic validates and serialises them as they are.
    correlation: stats.Correlation
    lagged: stats.LagCurve
    synchrony: stats.SynchronyCurve
    discrepancy: stats.Discrepancy
    icc: stats.Icc


class RaterResult(_Model):
    rater: str
    role: str
    dial: str
    seconds_rated: int
    mean: float | None
    sd: float | None
    ruptures: list[Rupture]


class Clip(_Model):
    rater: str
    kind: str  # rupture or repair
    number: int
    start: float
    end: float
    file: str | None = None


class SessionAnalysis(_Model):
    session: str
    clock: str
    seconds: int
    scale_min: int
    scale_max: int
    raters: list[RaterResult]
    pairs: list[PairResult]
    clips: list[Clip]
    notes: list[str]
    settings: dict[str, object]
    construct_name: str = DEFAULT_CONSTRUCT
    treatment: str | None = None
    participant: str | None = None
    created: str | None = None
    quality: DataQuality | None = None
    # A study's interview answers, each beside its rupture or repair; None: the session had no interview.
    interview: list[LinkedAnswer] | None = None


def ordered(names: list[str]) -> list[str]:
    def key(name: str) -> tuple[int, str]:
        role = name.split(".")[0]
        return (ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER), name)

    return sorted(names, key=key)


def analyse_pair(grid: Grid, first: str, second: str, options: AnalyzeOptions) -> PairResult:
    x = grid.rater(first).value
    y = grid.rater(second).value
    return PairResult(
        first=first,
        second=second,
        correlation=stats.congruence(x, y, (first, second)),
        lagged=stats.lagged(x, y, options.max_lag),
        synchrony=stats.windowed(x, y, options.window, options.window_step),
        discrepancy=stats.discrepancy(x, y),
        icc=stats.icc(np.column_stack([x, y])),
    )


def clip_table(raters: list[RaterResult], seconds: int, length: int) -> list[Clip]:
    clips = []
    for rater in raters:
        for rupture in rater.ruptures:
            starts = [("rupture", rupture.onset)]
            if rupture.repair is not None:
                starts.append(("repair", rupture.repair.onset))
            for kind, start in starts:
                clips.append(
                    Clip(
                        rater=rater.rater,
                        kind=kind,
                        number=rupture.number,
                        start=float(start),
                        end=float(min(start + length, seconds)),
                    )
                )
    return clips


def analyse(grid: Grid, options: AnalyzeOptions | None = None) -> SessionAnalysis:
    options = options or AnalyzeOptions()
    names = ordered(grid.rater_names)
    notes = []
    raters = []
    for name in names:
        series = grid.rater(name)
        rated = series.value[np.isfinite(series.value)]
        if rated.size == 0:
            notes.append(f"{name} rated no second of this session")
        raters.append(
            RaterResult(
                rater=name,
                role=series.role,
                dial=series.dial,
                seconds_rated=int(rated.size),
                mean=float(rated.mean()) if rated.size else None,
                sd=float(rated.std(ddof=1)) if rated.size > 1 else None,
                ruptures=find_ruptures(series.value, options.ruptures),
            )
        )
    if len(names) < 2:
        notes.append("only one rater: no congruence, discrepancy or agreement statistics")
    if grid.clock == "session":
        notes.append("no player clock was used: times are seconds since the session's first sample")
    pairs = [analyse_pair(grid, a, b, options) for a, b in itertools.combinations(names, 2)]
    notes.extend(
        f"{pair.first} vs {pair.second}: {note}"
        for pair in pairs
        for note in (pair.correlation.note, pair.icc.note)
        if note
    )
    return SessionAnalysis(
        session=grid.session,
        clock=grid.clock,
        seconds=int(grid.seconds.size),
        scale_min=grid.scale_min,
        scale_max=grid.scale_max,
        raters=raters,
        pairs=pairs,
        clips=clip_table(raters, int(grid.seconds.size), options.clip_seconds),
        notes=notes,
        settings={
            "grid": asdict(options.grid),
            "ruptures": asdict(options.ruptures),
            "max_lag": options.max_lag,
            "window": options.window,
            "window_step": options.window_step,
            "clip_seconds": options.clip_seconds,
        },
    )


def analyse_folder(folder: Path, options: AnalyzeOptions | None = None) -> tuple[Grid, SessionAnalysis]:
    """A session folder's grid and analysis, with its codes, construct and data quality."""
    options = options or AnalyzeOptions()
    session = read_session(folder)
    grid = build_grid(session.meta, session.dials, options.grid)
    meta = session.meta
    analysis = analyse(grid, options)
    answers = read_interview(folder)
    # A clip the researcher moved still starts within its rupture's window: one segment's length.
    interview = (
        None
        if answers is None
        else link_answers(
            answers,
            [(r.rater, r.role, r.ruptures) for r in analysis.raters],
            tolerance=options.ruptures.segment,
        )
    )
    analysis = analysis.model_copy(
        update={
            "construct_name": meta.construct_name or DEFAULT_CONSTRUCT,
            "treatment": meta.treatment,
            "participant": meta.participant,
            "created": meta.created,
            "quality": data_quality(session, grid),
            "interview": interview,
        }
    )
    return grid, analysis
