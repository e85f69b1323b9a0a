"""`microdial analyze-study`: one row per dyad x session with the numbers `microdial analyze` gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from microdial.analysis.report import load_analysis
from microdial.cli import main
from microdial.store.format import SessionMeta
from tests.analysis.interviews import write_interview
from tests.analysis.sessions import per_second, played, write_session


def dyad_session(folder: Path, session: str, treatment: str | None, created: str, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    client = np.round(20 + np.cumsum(rng.normal(0, 1, 400)).clip(-30, 30))
    client[200:240] -= 30  # one planted rupture, repaired at 240 s
    therapist = np.round(0.5 * client + rng.normal(0, 2, 400))
    traces = [
        played("d1", "client", per_second(client), 400.0, rate=20),
        played("d2", "therapist", per_second(therapist), 400.0, rate=20),
    ]
    write_session(folder, session, traces)
    meta = SessionMeta.load(folder)
    meta.created, meta.treatment = created, treatment
    meta.save(folder)
    return folder


def test_one_row_per_dyad_and_session(tmp_path: Path) -> None:
    folders = [
        dyad_session(tmp_path / "rec" / "b2", "B2", "T1", "2026-02-01T10:00:00+00:00", 1),
        dyad_session(tmp_path / "rec" / "b1", "B1", "T1", "2026-01-01T10:00:00+00:00", 2),
        dyad_session(tmp_path / "caseC" / "c1", "C1", None, "2026-01-05T10:00:00+00:00", 3),
    ]
    write_interview(folders[0], "B2", [("client", "rupture", 200.0, f"q{n}", "a") for n in range(3)])
    out = tmp_path / "study"
    argv = ["analyze-study", *map(str, folders), "--out", str(out), "--jobs", "2"]
    assert main(argv) == 0
    table = pq.read_table(out / "study.parquet").to_pylist()
    assert pacsv.read_csv(out / "study.csv").num_rows == 3
    assert [(r["treatment"], r["session"], r["session_number"]) for r in table] == [
        ("T1", "B1", 1),
        ("T1", "B2", 2),
        ("caseC", "C1", 1),  # no treatment code: the folder the session sits in
    ]
    assert [r["answers"] for r in table] == [None, 3, None]
    assert (out / "study.png").stat().st_size > 0 and "p_adjusted" in (out / "study.md").read_text()
    # The same numbers as `microdial analyze` of that folder.
    assert main(["analyze", str(folders[1]), "--no-figure"]) == 0
    single = load_analysis(folders[1] / "analysis.json")
    row = table[0]
    pair = single.pairs[0]
    assert row["r"] == pair.correlation.r and row["p_adjusted"] == pair.correlation.p_autocorrelation
    assert row["discrepancy_mean"] == pair.discrepancy.mean and row["discrepancy_sd"] == pair.discrepancy.sd
    client = single.raters[0]
    assert (row["first_rater"], row["second_rater"]) == ("client", "therapist")
    assert row["first_ruptures"] == len(client.ruptures) >= 1
    assert row["first_rupture_depth"] == pytest.approx(np.mean([r.depth for r in client.ruptures]))
    assert row["first_coverage"] == 1.0 and row["construct_name"] == "Working alliance"
