"""Analysis end to end on a 2-hour, 100 Hz, two-rater session folder; prints seconds (target <= 1 s).

Run: python benchmarks/bench_analysis.py [--keep DIR]
The session is written in the recorder's format first (not timed); the timed part reads the CSVs,
builds the grid, computes every statistic, ruptures and repairs, and writes the grid files and the
reports. The figure is timed separately.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from microdial.analysis.figure import draw
from microdial.analysis.grid import grid_for, write_grid
from microdial.analysis.report import FIGURE_PNG, FIGURE_SVG, write_reports
from microdial.analysis.session import analyse
from tests.analysis.sessions import played, write_session

DURATION = 2 * 3600.0
RATE = 100.0


def write(folder: Path) -> None:
    rng = np.random.default_rng(0)
    level = np.cumsum(rng.normal(0, 0.8, int(DURATION) + 1)).clip(-45, 45)

    def client(t: np.ndarray) -> np.ndarray:
        return np.interp(t, np.arange(level.size), level)

    def therapist(t: np.ndarray) -> np.ndarray:
        return 0.8 * client(t - 2.0) - 4

    write_session(
        folder,
        "BENCH",
        [
            played("d1", "client", client, DURATION, RATE),
            played("d2", "therapist", therapist, DURATION, RATE, seed=1),
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="write the session here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "bench"
        start = time.perf_counter()
        write(folder)
        print(
            f"wrote 2 x {int(DURATION * RATE)} samples in {time.perf_counter() - start:.1f} s (setup, not timed)"
        )
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            grid = grid_for(folder)
            analysis = analyse(grid)
            write_grid(grid, folder)
            write_reports(analysis, folder, FIGURE_PNG)
            runs.append(time.perf_counter() - start)
        print(
            f"analysis end to end without figure: {min(runs):.3f} s best of 3 ({', '.join(f'{r:.3f}' for r in runs)})"
        )
        start = time.perf_counter()
        draw(grid, analysis, folder / FIGURE_PNG, folder / FIGURE_SVG)
        print(f"figure (PNG + SVG): {time.perf_counter() - start:.3f} s")
        print(f"grid: {grid.seconds.size} seconds x {len(grid.raters)} raters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
