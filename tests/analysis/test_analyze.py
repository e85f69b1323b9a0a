"""`microdial analyze` end to end on written session folders; clips cut by the real ffmpeg."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from microdial.analysis.report import load_analysis
from microdial.cli import main
from tests.analysis.sessions import per_second, played, write_session


def client_curve(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = 20 + rng.normal(0, 1.5, n)
    v[200:260] -= 35
    v[260:280] -= np.linspace(35, 0, 20)
    v[500:540] -= 25  # repaired at once
    return v.round()


def two_raters(folder: Path, n: int = 700) -> tuple[Path, np.ndarray, np.ndarray]:
    client = client_curve(n)
    therapist = np.empty(n)
    therapist[2:] = client[:-2] - 5  # follows the client by 2 s, rates 5 points lower
    therapist[:2] = client[0] - 5
    write_session(
        folder,
        "A1",
        [
            played("d1", "client", per_second(client), float(n), rate=50, jitter=0.004),
            played("d2", "therapist", per_second(therapist), float(n), rate=100, seed=1),
        ],
    )
    return folder, client, therapist


def test_analyze_two_raters_end_to_end(tmp_path: Path) -> None:
    folder, client, therapist = two_raters(tmp_path / "s")
    assert main(["analyze", str(folder)]) == 0
    for name in (
        "analysis.json",
        "analysis.md",
        "analysis.html",
        "analysis.png",
        "analysis.svg",
        "grid.wide.csv",
    ):
        assert (folder / name).stat().st_size > 0, name
    result = load_analysis(folder / "analysis.json")
    assert [r.rater for r in result.raters] == ["client", "therapist"]
    (pair,) = result.pairs
    assert (pair.first, pair.second) == ("client", "therapist")
    # The 50 Hz jitter and the 100 Hz dial must still give back the planted per-second values.
    ref = sps.pearsonr(client, therapist)
    assert pair.correlation.n == 700
    assert pair.correlation.r == pytest.approx(ref.statistic, abs=2e-3)
    assert pair.correlation.p_autocorrelation is not None and pair.correlation.n_eff is not None
    assert pair.lagged.best_lag == 2 and pair.lagged.best_r == pytest.approx(1.0, abs=1e-3)
    assert pair.discrepancy.mean == pytest.approx(np.mean(client - therapist), abs=0.01)
    assert pair.discrepancy.share_first_higher > 0.9
    assert pair.icc.c1 is not None and pair.icc.a1 is not None and pair.icc.a1 < pair.icc.c1
    client_ruptures = result.raters[0].ruptures
    assert [r.onset for r in client_ruptures][:2] == [200, 500]
    assert client_ruptures[0].repair is not None and 270 <= client_ruptures[0].repair.end <= 285
    assert [r.onset for r in result.raters[1].ruptures][:2] == [202, 502]
    clip = next(c for c in result.clips if c.rater == "client" and c.kind == "rupture" and c.number == 1)
    assert (clip.start, clip.end) == (200.0, 320.0)
    md = (folder / "analysis.md").read_text()
    assert "![ratings over the session](analysis.png)" in md and "client vs therapist" in md
    assert '<img src="analysis.png"' in (folder / "analysis.html").read_text()
    assert json.loads((folder / "analysis.json").read_text())["session"] == "A1"


def test_one_rater_and_a_constant_rater_are_reported_not_crashed(tmp_path: Path) -> None:
    one = write_session(
        tmp_path / "one", "O1", [played("d1", "client", per_second(client_curve(400)), 400.0)]
    )
    assert main(["analyze", str(one), "--no-figure"]) == 0
    result = load_analysis(one / "analysis.json")
    assert result.pairs == [] and any("only one rater" in note for note in result.notes)
    assert not (one / "analysis.png").exists()
    flat = write_session(
        tmp_path / "flat",
        "F1",
        [
            played("d1", "client", per_second(client_curve(400)), 400.0),
            played("d2", "therapist", lambda t: np.full_like(t, 10.0), 400.0),
        ],
    )
    assert main(["analyze", str(flat), "--no-figure"]) == 0
    result = load_analysis(flat / "analysis.json")
    assert result.pairs[0].correlation.r is None
    assert "client vs therapist: r undefined: therapist rated a constant series" in result.notes
    assert "r undefined" in (flat / "analysis.md").read_text()


def test_settings_flow_from_flags_and_config(tmp_path: Path) -> None:
    folder, _, _ = two_raters(tmp_path / "s", n=400)
    (tmp_path / "microdial.toml").write_text("[analyze]\nruptures = 1\nmax_lag = 3\n")
    assert (
        main(["analyze", str(folder), "--no-figure", "--out", str(tmp_path / "r"), "--clip-seconds", "30"])
        == 0
    )
    result = load_analysis(tmp_path / "r" / "analysis.json")
    assert all(len(r.ruptures) == 1 for r in result.raters)
    assert result.pairs[0].lagged.lags == list(range(-3, 4))
    assert all(c.end - c.start == 30 for c in result.clips)
    assert main(["analyze", str(folder), "--ruptures", "-1"]) == 2


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (scripts/test installs it)")
def test_cut_clips_with_real_ffmpeg(tmp_path: Path) -> None:
    video = tmp_path / "session.mp4"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=30:size=160x120:rate=10",
         "-pix_fmt", "yuv420p", str(video)],
        check=True,
    )  # fmt: skip
    v = np.full(30, 20.0)
    v[12:16] = -20
    folder = write_session(tmp_path / "s", "C1", [played("d1", "client", per_second(v), 30.0)])
    args = ["analyze", str(folder), "--no-figure", "--segment", "3", "--baseline", "6", "--separation", "2"]
    assert main([*args, "--clip-seconds", "4", "--cut", str(video)]) == 0
    result = load_analysis(folder / "analysis.json")
    files = sorted(Path(folder / c.file).name for c in result.clips if c.file)
    assert files == ["client-repair1.mp4", "client-rupture1.mp4"]
    for name in files:
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(folder / "clips" / name)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert float(probe.stdout) == pytest.approx(4.0, abs=0.25)
    assert main([*args, "--cut", str(tmp_path / "missing.mp4")]) == 2


def test_three_raters_give_every_pair_and_shared_roles_stay_apart(tmp_path: Path) -> None:
    curve = per_second(client_curve(300))
    folder = write_session(
        tmp_path / "s",
        "P3",
        [
            played("d1", "observer", curve, 300.0),
            played("d2", "therapist", curve, 300.0, seed=1),
            played("d3", "client", curve, 300.0, seed=2),
            played("d4", "observer", curve, 300.0, seed=3),
        ],
    )
    assert main(["analyze", str(folder)]) == 0
    result = load_analysis(folder / "analysis.json")
    assert [r.rater for r in result.raters] == ["client", "therapist", "observer.d1", "observer.d4"]
    assert len(result.pairs) == 6
    assert (result.pairs[0].first, result.pairs[0].second) == ("client", "therapist")
    assert all(p.correlation.r == pytest.approx(1.0) and p.icc.a1 == pytest.approx(1.0) for p in result.pairs)


def test_a_dial_without_samples_is_reported_as_rating_nothing(tmp_path: Path) -> None:
    folder, _, _ = two_raters(tmp_path / "s", n=300)
    csv = folder / "d2.samples.csv"
    csv.write_text(csv.read_text().splitlines()[0] + "\n")
    assert main(["analyze", str(folder), "--no-figure"]) == 0
    result = load_analysis(folder / "analysis.json")
    assert result.raters[1].seconds_rated == 0 and result.raters[1].ruptures == []
    assert "therapist rated no second of this session" in result.notes
    assert result.pairs[0].correlation.r is None
    assert result.raters[0].seconds_rated == 300


def test_rupture_mode_is_chosen_and_named(tmp_path: Path) -> None:
    folder, _, _ = two_raters(tmp_path / "s")
    assert (
        main(["analyze", str(folder), "--no-figure", "--rupture-mode", "drop", "--repair-tolerance", "0"])
        == 0
    )
    result = load_analysis(folder / "analysis.json")
    assert result.settings["ruptures"] == {
        "mode": "drop",
        "k": 3,
        "segment": 30,
        "separation": 30,
        "baseline": 60,
        "lookback": 600,
        "min_depth": 5.0,
        "repair_fraction": 1.0,
        "repair_tolerance": 0.0,
    }
    assert "Mode drop:" in (folder / "analysis.md").read_text()
    with pytest.raises(SystemExit):
        main(["analyze", str(folder), "--no-figure", "--rupture-mode", "deepest"])
