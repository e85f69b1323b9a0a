"""`microdial export SESSION_DIR`: the per-second grid, long and wide, as CSV and Parquet."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from microdial.analysis.grid import GridOptions, export_grid
from microdial.config import Options
from microdial.errors import ConfigError
from microdial.store.bids import export_bids


class ExportSettings(BaseSettings):
    max_hold: float = Field(
        0.5, gt=0, description="longest a sample's value holds, seconds (a slower dial: its own interval)"
    )
    min_coverage: float = Field(0.5, gt=0, le=1, description="rated time a grid second needs, seconds")


OPTIONS = Options(ExportSettings, "export")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "session_dir", type=Path, nargs="+", help="a recorder session folder (several with --bids)"
    )
    parser.add_argument("--out", type=Path, help="folder for the grid files (default: the session folder)")
    parser.add_argument(
        "--bids", type=Path, metavar="DIR", help="instead of the grid: the sessions as a BIDS dataset in DIR"
    )
    OPTIONS.add_to(parser)


def run(args: argparse.Namespace) -> int:
    settings = OPTIONS.load(args)
    if args.bids is not None:
        for path in export_bids(args.session_dir, args.bids):
            print(path)
        return 0
    if len(args.session_dir) > 1:
        raise ConfigError("the grid is exported one session at a time: give one SESSION_DIR (or --bids DIR)")
    grid = GridOptions(settings.max_hold, settings.min_coverage)
    for path in export_grid(args.session_dir[0], args.out, grid):
        print(path)
    return 0
