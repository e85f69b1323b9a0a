"""`microdial analyze-study SESSION_DIR... --out DIR`: one row per dyad x session, as CSV and Parquet,
with a summary figure and a short report. Each session is analysed as `microdial analyze` does."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import Field

from microdial.analysis.study import study, write_tables
from microdial.analysis.study_report import write_summary
from microdial.apps.analyze import AnalyzeSettings
from microdial.config import Options


class StudySettings(AnalyzeSettings):
    jobs: int | None = Field(None, ge=1, description="sessions analysed at once (default: one per CPU)")


OPTIONS = Options(StudySettings, "analyze_study")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "session_dirs", nargs="+", type=Path, metavar="SESSION_DIR", help="recorder session folders"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for study.{csv,parquet,md,png}")
    OPTIONS.add_to(parser)


def run(args: argparse.Namespace) -> int:
    settings = OPTIONS.load(args)
    options = settings.options()
    rows = study(args.session_dirs, options, settings.jobs)
    ruptures = options.ruptures
    described = (
        f"ruptures by mode {ruptures.mode} (k {ruptures.k}, {ruptures.segment}-s windows, min depth "
        f"{ruptures.min_depth:g}, repair tolerance {ruptures.repair_tolerance:g} points)."
    )
    written = write_tables(rows, args.out) + write_summary(rows, args.out, described)
    for path in written:
        print(path)
    return 0
