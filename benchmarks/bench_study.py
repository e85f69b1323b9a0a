"""`microdial analyze-study` over 100 sessions of 60 minutes x 2 raters x 100 Hz (target <= 30 s),
next to the time pyarrow alone takes to read the same CSV files.

Run: python benchmarks/bench_study.py [--sessions 100] [--distinct 4] [--keep DIR]
Setup (not timed): `--distinct` sessions are written in the recorder's format with different
seeds; the `--sessions` folders each get their own session.json (session code, treatment, created)
and hard links to one distinct session's sample files, so the benchmark does not write 10 GB. Every
file is read and analysed in full each time; the files' pages are in the OS cache for both timings
after the first (untimed) read.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from microdial.cli import main as cli
from microdial.store.format import SessionMeta
from tests.analysis.sessions import played, write_session

MINUTES = 60
RATE = 100.0


def distinct(folder: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    seconds = MINUTES * 60
    level = np.cumsum(rng.normal(0, 0.8, seconds + 1)).clip(-45, 45)

    def client(t: np.ndarray) -> np.ndarray:
        return np.interp(t, np.arange(level.size), level)

    def therapist(t: np.ndarray) -> np.ndarray:
        return 0.8 * client(t - 2.0) - 4

    traces = [
        played("d1", "client", client, float(seconds), RATE, seed=seed),
        played("d2", "therapist", therapist, float(seconds), RATE, seed=seed + 1),
    ]
    return write_session(folder, f"SRC{seed}", traces)


def study_folders(root: Path, sessions: int, sources: list[Path]) -> list[Path]:
    folders = []
    for i in range(sessions):
        source = sources[i % len(sources)]
        folder = root / f"S{i:03d}"
        folder.mkdir(parents=True)
        meta = SessionMeta.load(source)
        meta.session = f"S{i:03d}"
        meta.treatment = f"T{i // 10:02d}"
        meta.created = f"2026-01-01T{i // 10:02d}:{i % 10:02d}:00+00:00"
        meta.save(folder)
        for dial in meta.dials.values():
            os.link(source / dial.samples_file, folder / dial.samples_file)
        folders.append(folder)
    return folders


def read_alone(folders: list[Path]) -> tuple[float, float, int]:
    """Seconds to read every samples file with pyarrow: all columns, then the five the reader uses."""
    files = [f for folder in folders for f in sorted(folder.glob("*.samples.csv"))]
    start = time.perf_counter()
    rows = sum(pacsv.read_csv(f).num_rows for f in files)
    everything = time.perf_counter() - start
    used = pacsv.ConvertOptions(
        include_columns=["value", "host_time", "media_time", "playback", "discontinuity"]
    )
    start = time.perf_counter()
    for f in files:
        pacsv.read_csv(f, convert_options=used)
    return everything, time.perf_counter() - start, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--distinct", type=int, default=4)
    parser.add_argument("--keep", type=Path, help="write the sessions here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        start = time.perf_counter()
        sources = [distinct(root / "sources" / f"src{k}", seed=k) for k in range(args.distinct)]
        folders = study_folders(root / "study", args.sessions, sources)
        size = sum(f.stat().st_size for s in sources for f in s.glob("*.samples.csv"))
        print(
            f"setup (not timed): {args.distinct} distinct sessions of {MINUTES} min x 2 raters x {RATE:g} Hz "
            f"({size / 1e6:.0f} MB), {args.sessions} session folders, {time.perf_counter() - start:.1f} s"
        )
        everything, used, rows = read_alone(folders)  # also brings every file into the OS cache
        everything, used, rows = read_alone(folders)
        print(
            f"pyarrow alone, {rows} rows in {2 * args.sessions} files: all columns {everything:.1f} s, "
            f"the reader's five columns {used:.1f} s"
        )
        start = time.perf_counter()
        code = cli(["analyze-study", *map(str, folders), "--out", str(root / "out")])
        elapsed = time.perf_counter() - start
        print(
            f"analyze-study, {args.sessions} sessions, jobs = {os.cpu_count()}: {elapsed:.1f} s (target <= 30 s)"
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
