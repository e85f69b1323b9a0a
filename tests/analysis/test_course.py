"""`microdial analyze-course`: session-to-session ruptures, repairs and caseload counts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from microdial.analysis.course import CourseOptions, SessionScore, caseload, course
from microdial.cli import main
from microdial.store.format import SessionMeta
from tests.analysis.sessions import played, write_session


def scores(*values: float) -> list[SessionScore]:
    return [SessionScore(session=str(i + 1), score=v, source="test") for i, v in enumerate(values)]


def test_sd_criterion_finds_the_planted_drop_and_its_repair() -> None:
    values = [5.0, 5.5, 6.0, 2.0, 4.0, 6.5, 6.5]
    result = course("T", scores(*values), CourseOptions())
    assert result.threshold == pytest.approx(np.std(values, ddof=1))
    (rupture,) = result.ruptures
    assert (rupture.session, rupture.index, rupture.pre_level, rupture.drop) == ("4", 4, 6.0, 4.0)
    assert rupture.repaired_at == "6" and rupture.sessions_to_repair == 2
    assert result.classification == "repaired rupture"


def test_classes_and_caseload_counts() -> None:
    treatments = {
        "steady": scores(5, 5.2, 5.1, 5.3, 5.2),
        "broken": scores(6, 6, 6.2, 3, 3.5, 4),
        "repaired": scores(6, 6, 2, 6.1, 6),
        "short": scores(5, 1),
    }
    report = caseload(treatments, CourseOptions())
    by_name = {t.treatment: t for t in report.treatments}
    assert by_name["steady"].classification == "no rupture"
    assert by_name["broken"].classification == "unrepaired rupture"
    assert by_name["broken"].ruptures[0].repaired_at is None
    assert by_name["repaired"].classification == "repaired rupture"
    assert by_name["short"].classification is None and "at least 3" in by_name["short"].note
    assert report.counts == {
        "no rupture": 1,
        "unrepaired rupture": 1,
        "repaired rupture": 1,
        "unclassified": 1,
    }


def test_reliable_change_criterion_and_partial_repairs() -> None:
    values = scores(6, 6, 4.9, 5.5, 6)
    rci = CourseOptions(criterion="rci", reliability=0.9, norm_sd=1.0)
    limit = 1.96 * 1.0 * math.sqrt(2 * (1 - 0.9))
    result = course("T", values, rci)
    assert result.threshold == pytest.approx(limit)
    assert [r.session for r in result.ruptures] == ["3"]
    assert result.ruptures[0].repaired_at == "5"
    half = course(
        "T", values, CourseOptions(criterion="rci", reliability=0.9, norm_sd=1.0, repair_fraction=0.5)
    )
    assert half.ruptures[0].repaired_at == "4"


def test_scores_csv_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "scores.csv"
    csv.write_text(
        "treatment,session,score\n"
        + "".join(f"A,{i},{v}\n" for i, v in zip([10, 2, 1, 3, 4], [3.0, 6.0, 6.0, 6.1, 6.0], strict=True))
        + "".join(f"B,{i},{v}\n" for i, v in enumerate([4, 4.5, 5, 5.5], start=1))
    )
    assert main(["analyze-course", str(csv), "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "course.json").read_text())
    a = next(t for t in report["treatments"] if t["treatment"] == "A")
    # Numeric session labels are put in order: session 10 is the last and the drop happens there.
    assert [s["session"] for s in a["sessions"]] == ["1", "2", "3", "4", "10"]
    assert a["classification"] == "unrepaired rupture" and a["ruptures"][0]["session"] == "10"
    assert report["counts"]["no rupture"] == 1
    assert "unrepaired rupture: 1" in capsys.readouterr().out
    assert (tmp_path / "out" / "course.csv").read_text().splitlines()[1].startswith("A,5,")
    assert "| A | 5 |" in (tmp_path / "out" / "course.md").read_text()


def test_session_folders_scored_by_mean_rating(tmp_path: Path) -> None:
    levels = [20, 22, 21, -10, 5, 23]
    for i, level in enumerate(levels, start=1):
        folder = tmp_path / "caseload" / "P07" / f"s{i}"
        write_session(
            folder,
            f"P07S{i}",
            [
                played("d1", "client", lambda t, lv=level: np.full_like(t, float(lv)), 60.0),
                played("d2", "therapist", lambda t: np.full_like(t, 0.0), 60.0),
            ],
        )
        meta = SessionMeta.load(folder)
        meta.created = f"2026-01-{i:02d}T10:00:00+00:00"
        meta.save(folder)
    folders = [str(p) for p in sorted((tmp_path / "caseload" / "P07").iterdir(), reverse=True)]
    assert main(["analyze-course", *folders, "--out", str(tmp_path / "out")]) == 0
    (treatment,) = json.loads((tmp_path / "out" / "course.json").read_text())["treatments"]
    assert treatment["treatment"] == "P07"
    assert [s["score"] for s in treatment["sessions"]] == pytest.approx(levels)
    assert treatment["ruptures"][0]["session"] == "P07S4"
    assert treatment["ruptures"][0]["repaired_at"] == "P07S6"
    assert treatment["classification"] == "repaired rupture"
    assert main(["analyze-course", *folders, "--role", "therapist", "--out", str(tmp_path / "t")]) == 0
    (flat,) = json.loads((tmp_path / "t" / "course.json").read_text())["treatments"]
    assert flat["classification"] == "no rupture" and "same score" in flat["note"]


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("treatment,session\nA,1\n", [], "lacks columns score"),
        ("treatment,session,score\nA,1,high\n", [], "line 2: score"),
        ("treatment,session,score\nA,1,3\nA,1,4\n", [], "same session twice"),
        ("treatment,session,score\nA,1,3\nA,2,4\nA,3,1\n", ["--criterion", "rci"], "needs --reliability"),
    ],
)
def test_bad_scores_give_one_line_errors(
    tmp_path: Path, content: str, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "scores.csv"
    csv.write_text(content)
    assert main(["analyze-course", str(csv), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert main(["analyze-course", str(tmp_path / "nowhere")]) == 2


def test_the_literature_criteria_side_by_side(tmp_path: Path) -> None:
    """A: within SD 1.557, drops of 1.8 and 4; B: within SD 0.114, a drop of 0.3; the treatments'
    means are 6.25 apart in SD (between-person SD), so Gumz et al.'s criterion finds no rupture."""
    a, b = [5, 7, 7, 5.2, 7, 3, 7], [-3, -2.8, -3.1, -2.9, -3]
    csv = tmp_path / "scores.csv"
    csv.write_text(
        "treatment,session,score\n"
        + "".join(f"A,{i},{v}\n" for i, v in enumerate(a, start=1))
        + "".join(f"B,{i},{v}\n" for i, v in enumerate(b, start=1))
    )
    assert main(["analyze-course", str(csv), "--out", str(tmp_path / "out"), "--criterion", "stiles"]) == 0
    report = json.loads((tmp_path / "out" / "course.json").read_text())
    between = np.std([np.mean(a), np.mean(b)], ddof=1)
    assert report["between_sd"] == pytest.approx(between)
    side = {c["criterion"]: c for c in report["side_by_side"]}
    assert side["stiles"]["ruptures"] == {"A": 1, "B": 1}
    assert side["strauss"]["ruptures"] == {"A": 2, "B": 1}
    assert side["gumz"]["ruptures"] == {"A": 0, "B": 0}
    assert side["stiles"]["classifications"] == {"A": "repaired rupture", "B": "unrepaired rupture"}
    assert side["gumz"]["counts"]["no rupture"] == 2
    # The chosen criterion is the main table's.
    by_name = {t["treatment"]: t for t in report["treatments"]}
    assert by_name["A"]["threshold"] == pytest.approx(2 * np.std(a, ddof=1))
    assert [r["drop"] for r in by_name["A"]["ruptures"]] == [pytest.approx(4.0)]
    md = (tmp_path / "out" / "course.md").read_text()
    assert "Stiles et al., 2004" in md and "Strauss et al., 2006" in md and "Gumz et al., 2012" in md
    assert "| A | 1, repaired rupture | 2, repaired rupture | 0, no rupture |" in md


def test_session_folders_group_by_their_treatment_code(tmp_path: Path) -> None:
    for i, (treatment, level) in enumerate([("T1", 20), ("T2", 10), ("T1", 21)], start=1):
        folder = tmp_path / "all" / f"s{i}"
        write_session(
            folder, f"S{i}", [played("d1", "client", lambda t, lv=level: np.full_like(t, float(lv)), 30.0)]
        )
        meta = SessionMeta.load(folder)
        meta.treatment, meta.created = treatment, f"2026-01-{i:02d}T10:00:00+00:00"
        meta.save(folder)
    assert (
        main(
            [
                "analyze-course",
                *[str(p) for p in sorted((tmp_path / "all").iterdir())],
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "o" / "course.json").read_text())
    assert {t["treatment"]: [s["session"] for s in t["sessions"]] for t in report["treatments"]} == {
        "T1": ["S1", "S3"],
        "T2": ["S2"],
    }
