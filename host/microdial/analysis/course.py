"""Ruptures and repairs across a treatment's sessions, and their counts across a caseload.

Scores: one alliance score per session, either a session folder's mean rating (the mean of one
rater's per-second grid) or imported questionnaire scores (CSV: treatment, session, score).

Rupture: a precipitous drop from one session to the next, s[i-1] - s[i] >= threshold, where the
threshold is, by criterion,
  * "sd" (default): sd_factor (1.0) x the SD (n-1) of the treatment's own scores (within-person SD),
    which needs at least three sessions;
  * "stiles": 2 within-person SDs (Stiles et al., 2004);
  * "strauss": 1 within-person SD (Strauss et al., 2006);
  * "gumz": the stricter (larger) of the within-person SD and the between-person SD, the SD (n-1) of
    the treatments' mean scores across the caseload, which needs two treatments (Gumz et al., 2012);
  * "rci": a reliable change (Jacobson & Truax, 1991): 1.96 x norm_sd x sqrt(2 (1 - reliability)).
Repair: a later session scoring at or above the pre-rupture level s[i-1] minus
(1 - repair_fraction) of the drop (by default: a return to the pre-rupture level).
The report shows the chosen criterion and, side by side, the three of the literature (LITERATURE).
Treatment classes: "no rupture"; "repaired rupture" when at least one rupture was followed by a
repair (a rupture-repair sequence); "unrepaired rupture" when there were ruptures but none was.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from microdial.analysis.grid import AnalysisError

Classification = Literal["no rupture", "unrepaired rupture", "repaired rupture"]
CLASSES: tuple[Classification, ...] = ("no rupture", "unrepaired rupture", "repaired rupture")
Criterion = Literal["sd", "rci", "stiles", "strauss", "gumz"]
Z_RELIABLE = 1.96
# The session-to-session criteria of the published studies, shown side by side.
LITERATURE: dict[Criterion, str] = {
    "stiles": "a drop of at least 2 SD of the treatment's scores (Stiles et al., 2004)",
    "strauss": "a drop of at least 1 SD of the treatment's scores (Strauss et al., 2006)",
    "gumz": "a drop of at least the larger of the within- and between-person SD (Gumz et al., 2012)",
}


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


class CriterionResult(BaseModel):
    """One literature criterion applied to the whole caseload."""

    model_config = ConfigDict(frozen=True)

    criterion: Criterion
    rule: str
    classifications: dict[str, Classification | None]  # treatment -> class
    ruptures: dict[str, int]  # treatment -> ruptures
    counts: dict[str, int]


class CourseReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    criterion: Criterion
    sd_factor: float
    reliability: float | None
    norm_sd: float | None
    repair_fraction: float
    treatments: list[Treatment]
    counts: dict[str, int]
    between_sd: float | None = None
    side_by_side: list[CriterionResult] = []


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


def between_sd(treatments: dict[str, list[SessionScore]]) -> float | None:
    """SD (n-1) of the treatments' mean scores: how much people differ (None with one treatment)."""
    means = [float(np.mean([s.score for s in sessions])) for sessions in treatments.values() if sessions]
    return float(np.std(means, ddof=1)) if len(means) > 1 else None


def threshold(
    scores: list[float], options: CourseOptions, between: float | None = None
) -> tuple[float | None, str]:
    if options.criterion == "rci":
        if options.reliability is None or options.norm_sd is None:
            raise AnalysisError("the rci criterion needs --reliability and --norm-sd (the measure's SD)")
        return Z_RELIABLE * options.norm_sd * math.sqrt(2.0 * (1.0 - options.reliability)), ""
    if len(scores) < 3:
        return None, f"{len(scores)} sessions: the SD criterion needs at least 3"
    within = float(np.std(scores, ddof=1))
    if options.criterion == "gumz":
        if between is None:
            return None, "one treatment: the between-person SD needs at least two"
        limit = max(within, between)
    else:
        factor = {"stiles": 2.0, "strauss": 1.0}.get(options.criterion, options.sd_factor)
        limit = factor * within
    if limit == 0:
        return None, "every session has the same score: no drop can count"
    return limit, ""


def course(
    name: str, sessions: list[SessionScore], options: CourseOptions, between: float | None = None
) -> Treatment:
    scores = [s.score for s in sessions]
    limit, note = threshold(scores, options, between)
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


def _tally(results: list[Treatment]) -> dict[str, int]:
    counts = Counter(t.classification for t in results if t.classification is not None)
    unclassified = sum(t.classification is None for t in results)
    tally: dict[str, int] = {c: counts.get(c, 0) for c in CLASSES}
    if unclassified:
        tally["unclassified"] = unclassified
    return tally


def caseload(treatments: dict[str, list[SessionScore]], options: CourseOptions) -> CourseReport:
    if not treatments:
        raise AnalysisError("no session scores given")
    between = between_sd(treatments)
    ordered = sorted(treatments.items())
    results = [course(name, sessions, options, between) for name, sessions in ordered]
    side_by_side = []
    for criterion, rule in LITERATURE.items():
        each = [
            course(name, sessions, replace(options, criterion=criterion), between)
            for name, sessions in ordered
        ]
        side_by_side.append(
            CriterionResult(
                criterion=criterion,
                rule=rule,
                classifications={t.treatment: t.classification for t in each},
                ruptures={t.treatment: len(t.ruptures) for t in each},
                counts=_tally(each),
            )
        )
    return CourseReport(
        criterion=options.criterion,
        sd_factor=options.sd_factor,
        reliability=options.reliability,
        norm_sd=options.norm_sd,
        repair_fraction=options.repair_fraction,
        treatments=results,
        counts=_tally(results),
        between_sd=between,
        side_by_side=side_by_side,
    )


def markdown(report: CourseReport) -> str:
    if report.criterion == "sd":
        rule = f"a drop of at least {report.sd_factor:g} SD of the treatment's own session scores"
    elif report.criterion == "rci":
        rule = f"a reliable drop (1.96 x {report.norm_sd:g} x sqrt(2(1 - {report.reliability:g})))"
    else:
        rule = LITERATURE[report.criterion]
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
    return "\n".join(lines + side_by_side(report)) + "\n"


def side_by_side(report: CourseReport) -> list[str]:
    """The literature's criteria next to each other: ruptures and class per treatment under each."""
    between = "–" if report.between_sd is None else f"{report.between_sd:.2f}"
    names = [c.criterion for c in report.side_by_side]
    lines = [
        "",
        "## The literature's criteria side by side",
        "",
        *[f"- {c.criterion}: {c.rule}" for c in report.side_by_side],
        f"- between-person SD (of the treatments' mean scores): {between}",
        "",
        f"Repair: a later session back at the pre-rupture level (regaining {report.repair_fraction:g} of the drop). "
        "Cells: ruptures, class.",
        "",
        "| treatment | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for t in report.treatments:
        cells = [
            f"{c.ruptures[t.treatment]}, {c.classifications[t.treatment] or 'unclassified'}"
            for c in report.side_by_side
        ]
        lines.append(f"| {t.treatment} | " + " | ".join(cells) + " |")
    lines.append(
        "| all: "
        + ", ".join(CLASSES)
        + " | "
        + " | ".join(" / ".join(str(c.counts.get(k, 0)) for k in CLASSES) for c in report.side_by_side)
        + " |"
    )
    return lines


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
