"""A study: one row per dyad x session, ready for multilevel models in R or Python.

Each session folder is analysed as `microdial analyze` does (the same options); its row holds the
first pair's congruence (client vs therapist when present) and each of the two raters' ruptures,
repairs and coverage. Rows are ordered by treatment (dyad), then by when the session was created;
session_number counts a treatment's sessions from 1.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from microdial.analysis.grid import AnalysisError
from microdial.analysis.session import AnalyzeOptions, RaterResult, SessionAnalysis, analyse_folder

RATER_SLOTS = ("first", "second")


class RaterColumns(BaseModel):
    model_config = ConfigDict(frozen=True)

    rater: str
    coverage: float | None  # share of the session's seconds rated
    ruptures: int
    rupture_depth: float | None  # mean depth, scale points
    repaired_share: float | None  # repaired ruptures / ruptures
    time_to_repair: float | None  # mean, seconds


class StudyRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    treatment: str
    participant: str | None
    session: str
    session_number: int
    created: str | None
    folder: str
    construct_name: str
    clock: str
    seconds: int
    raters: list[RaterColumns]
    n_both: int | None
    r: float | None
    p_adjusted: float | None
    n_eff: float | None
    p_naive: float | None
    discrepancy_mean: float | None
    discrepancy_sd: float | None
    answers: int | None


def rater_columns(rater: RaterResult, seconds: int) -> RaterColumns:
    ruptures = rater.ruptures
    repaired = [r.repair for r in ruptures if r.repair is not None]
    return RaterColumns(
        rater=rater.rater,
        coverage=rater.seconds_rated / seconds if seconds else None,
        ruptures=len(ruptures),
        rupture_depth=float(np.mean([r.depth for r in ruptures])) if ruptures else None,
        repaired_share=len(repaired) / len(ruptures) if ruptures else None,
        time_to_repair=float(np.mean([r.time_to_repair for r in repaired])) if repaired else None,
    )


def treatment_of(folder: Path, treatment: str | None, participant: str | None = None) -> str:
    """A session's treatment (dyad): session.json's treatment code, else its participant code, else
    the folder the session sits in."""
    return treatment or participant or folder.resolve().parent.name


def study_row(folder: Path, analysis: SessionAnalysis) -> StudyRow:
    pair = analysis.pairs[0] if analysis.pairs else None
    c = pair.correlation if pair else None
    d = pair.discrepancy if pair else None
    return StudyRow(
        treatment=treatment_of(folder, analysis.treatment, analysis.participant),
        participant=analysis.participant,
        session=analysis.session,
        session_number=0,
        created=analysis.created,
        folder=str(folder),
        construct_name=analysis.construct_name,
        clock=analysis.clock,
        seconds=analysis.seconds,
        raters=[rater_columns(r, analysis.seconds) for r in analysis.raters[: len(RATER_SLOTS)]],
        n_both=c.n if c else None,
        r=c.r if c else None,
        p_adjusted=c.p_autocorrelation if c else None,
        n_eff=c.n_eff if c else None,
        p_naive=c.p if c else None,
        discrepancy_mean=d.mean if d else None,
        discrepancy_sd=d.sd if d else None,
        # The answers the report shows beside the ruptures: the same read of the same file.
        answers=None if analysis.interview is None else len(analysis.interview),
    )


def _row(folder: Path, options: AnalyzeOptions) -> StudyRow:
    _, analysis = analyse_folder(folder, options)
    return study_row(folder, analysis)


def study(folders: Sequence[Path], options: AnalyzeOptions, jobs: int | None = None) -> list[StudyRow]:
    """Every session's row, analysed `jobs` at a time (default: one per CPU), numbered per treatment."""
    if not folders:
        raise AnalysisError("no session folders given")
    workers = max(1, min(jobs or os.cpu_count() or 1, len(folders)))
    if workers == 1:
        rows = [_row(folder, options) for folder in folders]
    else:
        with ProcessPoolExecutor(workers) as pool:
            rows = list(pool.map(_row, folders, [options] * len(folders)))
    rows.sort(key=lambda r: (r.treatment, r.created or "", r.session))
    numbered = []
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.treatment] = counts.get(row.treatment, 0) + 1
        numbered.append(row.model_copy(update={"session_number": counts[row.treatment]}))
    return numbered


def table(rows: list[StudyRow]) -> pa.Table:
    """The flat table: one column per field, the two raters' columns prefixed first_ and second_."""
    flat: list[dict[str, object]] = []
    for row in rows:
        record: dict[str, object] = row.model_dump(exclude={"raters"})
        for slot, rater in itertools.zip_longest(RATER_SLOTS, row.raters):
            values = rater.model_dump() if rater is not None else {}
            for name in RaterColumns.model_fields:
                record[f"{slot}_{name}"] = values.get(name)
        flat.append(record)
    return pa.Table.from_pylist(flat)


def write_tables(rows: list[StudyRow], out: Path) -> list[Path]:
    data = table(rows)
    csv_path, parquet_path = out / "study.csv", out / "study.parquet"
    try:
        out.mkdir(parents=True, exist_ok=True)
        pacsv.write_csv(data, csv_path, pacsv.WriteOptions(quoting_style="needed"))
        pq.write_table(data, parquet_path)
    except OSError as err:
        raise AnalysisError(f"cannot write the study tables to {out}: {err}") from None
    return [csv_path, parquet_path]
