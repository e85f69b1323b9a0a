"""`microdial analyze SESSION_DIR`: congruence, discrepancy, agreement, ruptures, repairs, clips, report."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from microdial.analysis.grid import GridOptions
from microdial.analysis.report import analyse_and_report
from microdial.analysis.ruptures import Mode, RuptureOptions
from microdial.analysis.session import AnalyzeOptions
from microdial.config import Options


class AnalyzeSettings(BaseSettings):
    max_lag: int = Field(10, ge=0, description="lagged cross-correlation within ± this many seconds")
    window: int = Field(30, ge=3, description="windowed cross-correlation window, seconds")
    window_step: int = Field(5, ge=1, description="step between windows, seconds")
    rupture_mode: Mode = Field(
        "lowest",
        description="lowest: the k lowest-rated windows (published method); drop: the k largest drops",
    )
    ruptures: int = Field(3, ge=0, description="ruptures per rater, k")
    segment: int = Field(30, ge=1, description="rupture segment length, seconds")
    separation: int = Field(30, ge=0, description="minimum gap between rupture segments, seconds")
    baseline: int = Field(
        60, ge=1, description="preceding window a rupture's depth is measured against, seconds"
    )
    lookback: int = Field(
        600, ge=0, description="lowest mode: how far back the pre-rupture level is sought, seconds"
    )
    min_depth: float = Field(5.0, ge=0, description="smallest drop that counts as a rupture, scale points")
    repair_fraction: float = Field(1.0, gt=0, le=1, description="share of the drop a repair must recover")
    repair_tolerance: float = Field(
        1.0, ge=0, description="a repair may end this many scale points below its level (one dial step)"
    )
    clip_seconds: int = Field(120, ge=1, description="clip length, seconds")
    max_hold: float = Field(
        0.5, gt=0, description="longest a sample's value holds, seconds (a slower dial: its own interval)"
    )
    min_coverage: float = Field(0.5, gt=0, le=1, description="rated time a grid second needs, seconds")

    def options(self) -> AnalyzeOptions:
        return AnalyzeOptions(
            grid=GridOptions(self.max_hold, self.min_coverage),
            ruptures=RuptureOptions(
                mode=self.rupture_mode,
                k=self.ruptures,
                segment=self.segment,
                separation=self.separation,
                baseline=self.baseline,
                lookback=self.lookback,
                min_depth=self.min_depth,
                repair_fraction=self.repair_fraction,
                repair_tolerance=self.repair_tolerance,
            ),
            max_lag=self.max_lag,
            window=self.window,
            window_step=self.window_step,
            clip_seconds=self.clip_seconds,
        )


OPTIONS = Options(AnalyzeSettings, "analyze")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session_dir", type=Path, help="a recorder session folder")
    parser.add_argument("--out", type=Path, help="folder for the report (default: the session folder)")
    parser.add_argument(
        "--cut", type=Path, metavar="VIDEO", help="cut the clips out of this video with ffmpeg"
    )
    parser.add_argument("--no-figure", action="store_true", help="skip the PNG/SVG figure")
    OPTIONS.add_to(parser)


def run(args: argparse.Namespace) -> int:
    options = OPTIONS.load(args).options()
    out_dir: Path = args.out or args.session_dir
    for path in analyse_and_report(
        args.session_dir, out_dir, options, figure=not args.no_figure, cut_video=args.cut
    ):
        print(path)
    return 0
