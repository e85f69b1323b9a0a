"""`microdial analyze-course SOURCE...`: session-to-session ruptures and repairs across a caseload.

Each SOURCE is a session folder (its score is one rater's mean rating; its treatment is the
`treatment` code of session.json, else its `participant` code, else the name of the folder it sits in) or a CSV of imported
questionnaire scores with columns treatment, session, score.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from pydantic import Field
from pydantic_settings import BaseSettings

from microdial.analysis.course import (
    CourseOptions,
    Criterion,
    SessionScore,
    caseload,
    markdown,
    read_scores,
    table_csv,
)
from microdial.analysis.grid import AnalysisError, GridOptions, build_grid
from microdial.analysis.session import ordered
from microdial.analysis.study import treatment_of
from microdial.config import Options
from microdial.store.format import META_FILE
from microdial.store.reader import read_session


class CourseSettings(BaseSettings):
    role: str | None = Field(
        None, description="rater whose mean rating scores a session folder; none: client if present"
    )
    criterion: Criterion = Field(
        "sd", description="rupture threshold rule: sd, stiles (2 SD), strauss (1 SD), gumz, rci"
    )
    sd_factor: float = Field(1.0, gt=0, description="drop in SDs of the treatment's own scores")
    reliability: float | None = Field(
        None, ge=0, lt=1, description="the measure's reliability, for --criterion rci"
    )
    norm_sd: float | None = Field(None, gt=0, description="the measure's SD, for --criterion rci")
    repair_fraction: float = Field(1.0, gt=0, le=1, description="share of the drop a repair must regain")


OPTIONS = Options(CourseSettings, "analyze_course")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", type=Path, help="session folders and/or scores CSV files")
    parser.add_argument("--out", type=Path, default=Path(), help="folder for course.json/md/csv (default .)")
    OPTIONS.add_to(parser)


def session_score(folder: Path, role: str | None) -> tuple[str, str, SessionScore]:
    """(treatment, sort key, score) of one session folder."""
    session = read_session(folder)
    meta = session.meta
    grid = build_grid(meta, session.dials, GridOptions())
    names = ordered(grid.rater_names)
    rater = grid.rater(role if role is not None else names[0])
    rated = rater.value[np.isfinite(rater.value)]
    if rated.size == 0:
        raise AnalysisError(f"{folder}: {rater.rater} rated no second, so the session has no score")
    treatment = treatment_of(folder, meta.treatment, meta.participant)
    return (
        treatment,
        f"{meta.created} {meta.session}",
        SessionScore(session=meta.session, score=float(rated.mean()), source=str(folder)),
    )


def run(args: argparse.Namespace) -> int:
    settings = OPTIONS.load(args)
    treatments: dict[str, list[SessionScore]] = {}
    from_folders: dict[str, list[tuple[str, SessionScore]]] = {}
    for source in args.sources:
        if (source / META_FILE).is_file():
            treatment, key, score = session_score(source, settings.role)
            from_folders.setdefault(treatment, []).append((key, score))
        elif source.is_file():
            for treatment, scores in read_scores(source).items():
                if treatment in treatments:
                    raise AnalysisError(f"treatment {treatment} appears in more than one scores file")
                treatments[treatment] = scores
        else:
            raise AnalysisError(f"{source} is neither a session folder (with {META_FILE}) nor a scores CSV")
    for treatment, keyed in from_folders.items():
        if treatment in treatments:
            raise AnalysisError(f"treatment {treatment} has both session folders and imported scores")
        treatments[treatment] = [score for _, score in sorted(keyed, key=lambda pair: pair[0])]
    report = caseload(
        treatments,
        CourseOptions(
            criterion=settings.criterion,
            sd_factor=settings.sd_factor,
            reliability=settings.reliability,
            norm_sd=settings.norm_sd,
            repair_fraction=settings.repair_fraction,
        ),
    )
    out: Path = args.out
    files = {
        "course.json": report.model_dump_json(indent=2) + "\n",
        "course.md": markdown(report),
        "course.csv": table_csv(report),
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (out / name).write_text(text, encoding="utf-8")
    except OSError as err:
        raise AnalysisError(f"cannot write the course report to {out}: {err.strerror}") from None
    for name in files:
        print(out / name)
    for name, count in report.counts.items():
        print(f"{name}: {count}")
    return 0
