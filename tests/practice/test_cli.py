"""The `microdial practice` admin commands: users, clips (a file, or a rupture cut from a session
with consent), export."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from microdial.cli import main
from microdial.practice import db
from tests.analysis.sessions import per_second, played, write_session
from tests.practice.conftest import make_webm

SESSION_SECONDS = 200


@pytest.fixture(scope="module")
def session_with_rupture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A client whose rating drops 30 points at 100 s and comes back at 130 s, and the session video."""
    root = tmp_path_factory.mktemp("session")
    client = np.full(SESSION_SECONDS, 20.0)
    client[100:130] = -10.0
    folder = write_session(
        root / "S1", "S1", [played("d1", "client", per_second(client), float(SESSION_SECONDS))]
    )
    video = make_webm(root / "session.webm", SESSION_SECONDS, size="64x48", rate=5, bitrate="50k")
    return folder, video


def test_user_add_prints_a_one_time_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    assert main(["practice", "user", "add", "sup1", "--role", "supervisor", "--data", data]) == 0
    link = capsys.readouterr().out.strip().splitlines()[-1]
    assert link.startswith("http://127.0.0.1:8094/welcome#") and len(link.split("#")[1]) >= 30
    assert main(["practice", "user", "add", "tr1", "--role", "trainee", "--data", data]) == 2
    assert "needs --supervisor" in capsys.readouterr().err
    assert (
        main(["practice", "user", "add", "tr1", "--role", "trainee", "--supervisor", "sup1", "--data", data])
        == 0
    )
    database = sqlite3.connect(tmp_path / "data" / db.DB_FILE)
    assert database.execute("SELECT version FROM schema_version").fetchone() == (len(db.MIGRATIONS),)
    assert database.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    # Only the hash of a link is kept: a copy of the database opens nobody's account.
    (stored,) = database.execute("SELECT token_hash FROM invites LIMIT 1").fetchone()
    assert link.split("#")[1] not in stored


def test_clip_add_refuses_what_is_not_a_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "notes.webm"
    fake.write_text("not a video at all")
    assert main(["practice", "clip", "add", str(fake), "--title", "T", "--data", str(tmp_path / "d")]) == 2
    assert "is not a video" in capsys.readouterr().err


def test_clip_add_from_a_video(tmp_path: Path, clip_video: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d"
    assert (
        main(
            [
                "practice",
                "clip",
                "add",
                str(clip_video),
                "--title",
                "Quiet",
                "--kind",
                "withdrawal",
                "--data",
                str(data),
            ]
        )
        == 0
    )
    assert "added" in capsys.readouterr().out
    row = sqlite3.connect(data / db.DB_FILE).execute("SELECT title, kind, mime FROM clips").fetchone()
    assert row == ("Quiet", "withdrawal", "video/webm")


def test_clip_from_a_session_needs_consent(
    tmp_path: Path, session_with_rupture: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, video = session_with_rupture
    command = [
        "practice",
        "clip",
        "add",
        "--from-session",
        str(folder),
        "--video",
        str(video),
        "--rupture",
        "1",
    ]
    command += ["--role", "client", "--data", str(tmp_path / "d"), "--kind", "confrontation"]
    assert main(command) == 2
    assert "--consent REF" in capsys.readouterr().err
    assert main([*command, "--consent", "   "]) == 2
    assert not (tmp_path / "d" / db.DB_FILE).exists() or sqlite3.connect(tmp_path / "d" / db.DB_FILE).execute(
        "SELECT COUNT(*) FROM clips"
    ).fetchone() == (0,)
    assert main([*command, "--rupture", "2", "--consent", "C-17"]) == 2
    assert "no rupture 2" in capsys.readouterr().err
    assert main([*command, "--consent", "C-17"]) == 0
    row = (
        sqlite3.connect(tmp_path / "d" / db.DB_FILE)
        .execute("SELECT title, source, consent, file FROM clips")
        .fetchone()
    )
    assert row[0] == "S1: rupture 1" and row[2] == "C-17" and "client rupture 1" in row[1]
    # The rupture's onset to the session's end (shorter than the 120 s clip length).
    onset, end = (float(part) for part in row[1].split()[-2].split("-"))
    assert 90 <= onset <= 105 and end == SESSION_SECONDS
    assert (tmp_path / "d" / "media" / row[3]).stat().st_size > 0


def test_export_writes_csv(tmp_path: Path, clip_video: Path) -> None:
    data = str(tmp_path / "d")
    assert main(["practice", "clip", "add", str(clip_video), "--title", "T", "--data", data]) == 0
    assert main(["practice", "export", "--out", str(tmp_path / "out"), "--data", data]) == 0
    with (tmp_path / "out" / "clips.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["title"] for row in rows] == ["T"]
    for name in ("attempts.csv", "reviews.csv", "scores.csv", "traces.csv"):
        assert (tmp_path / "out" / name).read_text().count("\n") == 1


def test_rubric_from_the_data_folder(tmp_path: Path) -> None:
    from microdial.errors import ConfigError
    from microdial.practice.settings import DEFAULT_RUBRIC, PracticeSettings, load_rubric

    settings = PracticeSettings.model_validate({"data": tmp_path})
    assert load_rubric(settings) == DEFAULT_RUBRIC and len(DEFAULT_RUBRIC.items) == 5
    (tmp_path / "rubric.toml").write_text(
        '[[items]]\nkey = "warmth"\ntitle = "Warmth"\nanchors = { 1 = "cold", 5 = "warm" }\n'
    )
    (item,) = load_rubric(settings).items
    assert item.key == "warmth" and item.anchors == {1: "cold", 5: "warm"}
    (tmp_path / "rubric.toml").write_text(
        '[[items]]\nkey = "x"\ntitle = "X"\nanchors = { 9 = "off scale" }\n'
    )
    with pytest.raises(ConfigError, match="1 to 5"):
        load_rubric(settings)
