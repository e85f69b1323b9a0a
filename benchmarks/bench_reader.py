"""read_session on one session of 60 minutes x 2 raters x 100 Hz (bench_study's), next to pyarrow
reading the same five columns alone: what the reader adds to the parse.

Run: python benchmarks/bench_reader.py [--repeat 7] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_study import distinct
from microdial.store.reader import read_session


def best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="write the session here (reused when already there)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "src0"
        if not (folder / "session.json").is_file():
            distinct(folder, seed=0)
        files = sorted(folder.glob("*.samples.csv"))
        used = pacsv.ConvertOptions(
            include_columns=["value", "host_time", "media_time", "playback", "discontinuity"]
        )
        read_session(folder)  # brings the files into the OS cache
        reader = best(args.repeat, lambda: read_session(folder))
        alone = best(args.repeat, lambda: [pacsv.read_csv(f, convert_options=used) for f in files])
        print(
            f"read_session, 2 x 60 min x 100 Hz, best of {args.repeat}: {reader * 1000:.0f} ms; "
            f"pyarrow alone, five columns: {alone * 1000:.0f} ms; load average {os.getloadavg()[0]:.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
