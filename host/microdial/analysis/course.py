"""Ruptures and repairs across a treatment's sessions, and their counts across a caseload.

Scores: one alliance score per session, either a session folder's mean rating (the mean of one
rater's per-second grid) or imported questionnaire scores (CSV: treatment, session, score).

Rupture: a precipitous drop from one session to the next, s[i-1] - s[i] >= threshold, where the
threshold is either
  * "sd" (default): sd_factor (1.0) x the SD (n-1) of the treatment's own scores, which needs at
    least three sessions (Stiles et al., 2004), or
  * "rci": a reliable change (Jacobson & Truax, 1991): 1.96 x norm_sd x sqrt(2 (1 - reliability)).
Repair: a later session scoring at or above the pre-rupture level s[i-1] minus
(1 - repair_fraction) of the drop.
Treatment classes: "no rupture"; "repaired rupture" when at least one rupture was followed by a
repair (a rupture-repair sequence); "unrepaired rupture" when there were ruptures but none was.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from microdial.analysis.grid import AnalysisError

Classification = Literal["no rupture", "unrepaired rupture", "repaired rupture"]
CLASSES: tuple[Classification, ...] = ("no rupture", "unrepaired rupture", "repaired rupture")
Criterion = Literal["sd", "rci"]
Z_RELIABLE = 1.96


@dataclass(frozen=True)
class CourseOptions:
    criterion: Criterion = "sd"
    sd_factor: float = 1.0
    reliability: float | None = None
    norm_sd: float | None = None
    repair_fraction: float = 1.0


class ScoreRow(BaseModel):
    """One row of an imported scores CSV."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    treatment: str = Field(min_length=1)
    session: str = Field(min_length=1)
    score: float = Field(allow_inf_nan=False)


class SessionScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    session: str
    score: float
    source: str


class CourseRupture(BaseModel):
    model_config = ConfigDict(frozen=True)

    session: str  # the session after the drop
    index: int  # its position in the treatment, from 1
    pre_level: float
    score: float
    drop: float
    repaired_at: str | None
    sessions_to_repair: int | None


class Treatment(BaseModel):
    model_config = ConfigDict(frozen=True)

    treatment: str
    sessions: list[SessionScore]
    threshold: float | None
    ruptures: list[CourseRupture]
    classification: Classification | None
    note: str = ""


class CourseReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    criterion: Criterion
    sd_factor: float
    reliability: float | None
    norm_sd: float | None
    repair_fraction: float
    treatments: list[Treatment]
    counts: dict[str, int]


def read_scores(path: Path) -> dict[str, list[SessionScore]]:
    """treatment -> its sessions, in file order unless every session label is a number."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as err:
        raise AnalysisError(f"cannot read {path}: {err.strerror}") from None
    found: dict[str, list[SessionScore]] = {}
    with handle:
        reader = csv.DictReader(handle)
        missing = {"treatment", "session", "score"} - set(reader.fieldnames or [])
        if missing:
            raise AnalysisError(
                f"{path} lacks columns {', '.join(sorted(missing))} (need treatment,session,score)"
            )
        for row in reader:
            try:
                parsed = ScoreRow.model_validate(row)
            except ValidationError as err:
                first = err.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise AnalysisError(f"{path} line {reader.line_num}: {where}: {first['msg']}") from None
            found.setdefault(parsed.treatment, []).append(
                SessionScore(session=parsed.session, score=parsed.score, source=str(path))
            )
    for sessions in found.values():
        labels = [s.session for s in sessions]
        if len(set(labels)) != len(labels):
            raise AnalysisError(f"{path}: a treatment lists the same session twice")
        if all(_is_number(label) for label in labels):
            sessions.sort(key=lambda s: float(s.session))
    return found


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def threshold(scores: list[float], options: CourseOptions) -> tuple[float | None, str]:
    if options.criterion == "rci":
        if options.reliability is None or options.norm_sd is None:
            raise AnalysisError("the rci criterion needs --reliability and --norm-sd (the measure's SD)")
        return Z_RELIABLE * options.norm_sd * math.sqrt(2.0 * (1.0 - options.reliability)), ""
    if len(scores) < 3:
        return None, f"{len(scores)} sessions: the SD criterion needs at least 3"
    sd = float(np.std(scores, ddof=1))
    if sd == 0:
        return None, "every session has the same score: no drop can count"
    return options.sd_factor * sd, ""


def course(name: str, sessions: list[SessionScore], options: CourseOptions) -> Treatment:
    scores = [s.score for s in sessions]
    limit, note = threshold(scores, options)
    if limit is None:
        # Identical scores cannot drop; too few sessions cannot be judged at all.
        classification: Classification | None = "no rupture" if len(scores) >= 3 else None
        return Treatment(
            treatment=name,
            sessions=sessions,
            threshold=None,
            ruptures=[],
            classification=classification,
            note=note,
        )
    ruptures = []
    for i in range(1, len(scores)):
        drop = scores[i - 1] - scores[i]
        if drop < limit or drop <= 0:
            continue
        level = scores[i - 1] - (1.0 - options.repair_fraction) * drop
        later = next((j for j in range(i + 1, len(scores)) if scores[j] >= level - 1e-9), None)
        ruptures.append(
            CourseRupture(
                session=sessions[i].session,
                index=i + 1,
                pre_level=scores[i - 1],
                score=scores[i],
                drop=drop,
                repaired_at=None if later is None else sessions[later].session,
                sessions_to_repair=None if later is None else later - i,
            )
        )
    if not ruptures:
        classification = "no rupture"
    elif any(r.repaired_at is not None for r in ruptures):
        classification = "repaired rupture"
    else:
        classification = "unrepaired rupture"
    return Treatment(
        treatment=name,
        sessions=sessions,
        threshold=limit,
        ruptures=ruptures,
        classification=classification,
        note=note,
    )


def caseload(treatments: dict[str, list[SessionScore]], options: CourseOptions) -> CourseReport:
    if not treatments:
        raise AnalysisError("no session scores given")
    results = [course(name, sessions, options) for name, sessions in sorted(treatments.items())]
    counts = Counter(t.classification for t in results if t.classification is not None)
    unclassified = sum(t.classification is None for t in results)
    tally: dict[str, int] = {c: counts.get(c, 0) for c in CLASSES}
    if unclassified:
        tally["unclassified"] = unclassified
    return CourseReport(
        criterion=options.criterion,
        sd_factor=options.sd_factor,
        reliability=options.reliability,
        norm_sd=options.norm_sd,
        repair_fraction=options.repair_fraction,
        treatments=results,
        counts=tally,
    )


def markdown(report: CourseReport) -> str:
    if report.criterion == "sd":
        rule = f"a drop of at least {report.sd_factor:g} SD of the treatment's own session scores"
    else:
        rule = f"a reliable drop (1.96 x {report.norm_sd:g} x sqrt(2(1 - {report.reliability:g})))"
    lines = [
        "# microdial course analysis",
        "",
        f"Rupture: {rule} from one session to the next. Repair: a later session back at the pre-rupture "
        f"level (fraction {report.repair_fraction:g} of the drop).",
        "",
        "| classification | treatments |",
        "|---|---|",
        *[f"| {name} | {count} |" for name, count in report.counts.items()],
        "",
        "| treatment | sessions | threshold | ruptures (session: drop → repaired at) | classification |",
        "|---|---|---|---|---|",
    ]
    for t in report.treatments:
        events = "; ".join(f"{r.session}: {r.drop:.1f} → {r.repaired_at or 'unrepaired'}" for r in t.ruptures)
        limit = "–" if t.threshold is None else f"{t.threshold:.2f}"
        lines.append(
            f"| {t.treatment} | {len(t.sessions)} | {limit} | {events or '–'} | {t.classification or t.note} |"
        )
    return "\n".join(lines) + "\n"


def table_csv(report: CourseReport) -> str:
    """One row per treatment, for spreadsheets."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["treatment", "sessions", "threshold", "ruptures", "repaired", "classification"])
    for t in report.treatments:
        writer.writerow(
            [
                t.treatment,
                len(t.sessions),
                "" if t.threshold is None else repr(t.threshold),
                len(t.ruptures),
                sum(r.repaired_at is not None for r in t.ruptures),
                t.classification or "",
            ]
        )
    return buffer.getvalue()
