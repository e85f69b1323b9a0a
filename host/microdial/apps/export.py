"""`microdial export SESSION_DIR`: the per-second grid, long and wide, as CSV and Parquet."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from microdial.analysis.grid import GridOptions, export_grid
from microdial.config import Options


class ExportSettings(BaseSettings):
    max_hold: float = Field(
        0.5, gt=0, description="longest a sample's value holds, seconds (a slower dial: its own interval)"
    )
    min_coverage: float = Field(0.5, gt=0, le=1, description="rated time a grid second needs, seconds")


OPTIONS = Options(ExportSettings, "export")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session_dir", type=Path, help="a recorder session folder")
    parser.add_argument("--out", type=Path, help="folder for the grid files (default: the session folder)")
    OPTIONS.add_to(parser)


def run(args: argparse.Namespace) -> int:
    settings = OPTIONS.load(args)
    for path in export_grid(
        args.session_dir, args.out, GridOptions(settings.max_hold, settings.min_coverage)
    ):
        print(path)
    return 0
