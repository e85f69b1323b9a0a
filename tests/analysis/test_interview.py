"""`microdial analyze` puts each study answer beside its rupture or repair (report and analysis.json)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from microdial.analysis.grid import AnalysisError
from microdial.analysis.interview import read_interview
from microdial.analysis.report import load_analysis
from microdial.analysis.session import analyse_folder
from microdial.cli import main
from tests.analysis.interviews import write_interview
from tests.analysis.sessions import per_second, played, write_session


def test_answers_stand_beside_their_rupture_and_repair(tmp_path: Path) -> None:
    folder = tmp_path / "s1"
    client = np.full(400, 20.0)
    client[200:240] = -10  # the one rupture, repaired at 240 s
    therapist = 0.5 * client + np.random.default_rng(1).normal(0, 2, 400).round()
    traces = [
        played("d1", "client", per_second(client), 400.0, rate=20),
        played("d2", "therapist", per_second(therapist), 400.0, rate=20),
    ]
    write_session(folder, "S1", traces)
    _, plain = analyse_folder(folder)
    assert plain.interview is None  # no interview: nothing claimed
    (planted,) = plain.raters[0].ruptures
    assert planted.repair is not None and 190 <= planted.onset <= 215
    onset, repair = float(planted.onset), float(planted.repair.onset)
    write_interview(
        folder,
        "S1",
        [
            ("client", "rupture", onset, "rupture_what", "We argued about <homework> & time"),
            ("client", "repair", repair, "repair_why", "She listened | I felt heard"),
            # The researcher moved this clip 8 s later: still the same rupture.
            ("client", "rupture", onset + 8, "rupture_why", "Tired"),
            # No rupture of this analysis starts anywhere near 5 s.
            ("client", "rupture", 5.0, "rupture_what", "Nothing much"),
        ],
    )
    assert main(["analyze", str(folder), "--no-figure"]) == 0
    saved = load_analysis(folder / "analysis.json")
    assert saved.interview is not None
    linked = [(a.answer, a.rater, a.rupture, a.clip_kind) for a in saved.interview]
    assert linked == [
        ("We argued about <homework> & time", "client", planted.number, "rupture"),
        ("She listened | I felt heard", "client", planted.number, "repair"),
        ("Tired", "client", planted.number, "rupture"),
        ("Nothing much", None, None, "rupture"),
    ]
    md = (folder / "analysis.md").read_text()
    interview = md[md.index("## Interview") :]
    row = f"| client | {planted.number} | repair | "
    assert row in interview and "She listened \\| I felt heard |" in interview
    assert "| client | – | rupture | 0:00:05 | Question rupture_what? | Nothing much |" in interview
    assert "1 answer followed a clip that starts at no rupture" in interview
    page = (folder / "analysis.html").read_text()
    assert html.escape("We argued about <homework> & time") in page and "<homework>" not in page
    # analyze-study counts the same answers.
    assert main(["analyze-study", str(folder), "--out", str(tmp_path / "study"), "--jobs", "1"]) == 0
    assert pq.read_table(tmp_path / "study" / "study.parquet").to_pylist()[0]["answers"] == len(
        saved.interview
    )


def test_the_csv_alone_reads_as_the_json(tmp_path: Path) -> None:
    write_interview(
        tmp_path, "S1", [("therapist", "repair", 61.0, "q", ""), ("client", "rupture", 3.5, "q", "x,y")]
    )
    from_json = read_interview(tmp_path)
    (tmp_path / "interview.json").unlink()
    assert read_interview(tmp_path) == from_json and from_json is not None and from_json[0].answer == ""


def test_a_foreign_interview_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "interview.csv").write_text("question,answer\nq1,a\n")
    with pytest.raises(AnalysisError, match=r"interview\.csv is not a microdial interview"):
        read_interview(tmp_path)
