"""The session report says what a researcher needs to cite it: which p, negative ICCs, doubtful lags,
a glossary, and the data's quality (samples lost, gaps, pauses, re-watched stretches, seconds rated)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest

from microdial.analysis import glossary
from microdial.analysis.colours import ROLE_COLOURS, colours
from microdial.analysis.report import load_analysis
from microdial.cli import main
from microdial.model import Sample
from microdial.store.writer import SessionRecord
from tests.analysis.sessions import HOST_T0


def watched(dial: str, role: str, value: np.ndarray, lost_at: int, seq_skip: int) -> list[Sample]:
    """10 Hz over 120 s of video: paused 5 s at 60 s, a seek back from 90 s to 80 s, `seq_skip`
    samples lost at sample `lost_at`; value[i] is the rating at media second i."""
    first, rewatch = list(np.arange(0, 90, 0.1)), list(np.arange(80, 120, 0.1))
    media = [float(t) for t in first[:600]] + [60.0] * 50 + [float(t) for t in first[600:] + rewatch]
    playback = ["playing"] * 600 + ["paused"] * 50 + ["playing"] * (300 + 400)
    disc = [False] * 950 + [True] + [False] * 399
    samples = []
    seq = 0
    for i, (m, state, jump) in enumerate(zip(media, playback, disc, strict=True)):
        if i == lost_at:
            seq += seq_skip
        host = HOST_T0 + i * 0.1
        samples.append(
            Sample(
                dial=dial, role=role, session="Q", value=int(value[min(int(m), value.size - 1)]), seq=seq,
                device_time=i * 0.1, host_time=host, host_monotonic=i * 0.1, media_time=m, playback=state,
                discontinuity=jump,
            )
        )  # fmt: skip
        seq += 1
    return samples


def test_report_for_citing_with_data_quality(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    client = np.round(np.cumsum(rng.normal(0, 2, 120)).clip(-40, 40))
    therapist = -client  # opposite movements: a negative best r and negative ICCs
    record = SessionRecord(tmp_path, "Q", window=64)
    record.on_samples("d1", watched("d1", "client", client, lost_at=200, seq_skip=7))
    record.on_samples("d2", watched("d2", "therapist", therapist, lost_at=10**6, seq_skip=0))
    record.meta.construct_name = "Bond"
    record.meta_changed = True
    record.close()
    folder = tmp_path / "Q"
    matplotlib.rcParams["svg.fonttype"] = "none"  # text kept as text, so the axis label can be read
    assert main(["analyze", str(folder)]) == 0
    result = load_analysis(folder / "analysis.json")
    assert result.construct_name == "Bond"
    quality = result.quality
    assert quality is not None
    first, second = quality.dials
    assert (first.samples, first.lost_samples, first.gaps) == (1350, 7, 1)
    assert (second.samples, second.lost_samples) == (1350, 0)
    assert first.share_rated == 1.0
    (gap,) = quality.gaps
    assert (gap.dial, gap.media_time, gap.lost) == ("d1", pytest.approx(20.0), 7)
    (pause,) = quality.paused
    assert pause.start == 60.0 and pause.end == pytest.approx(60.0) and pause.seconds == pytest.approx(5.0)
    (again,) = quality.rewatched
    assert again.start == 80.0 and again.end == pytest.approx(89.9)
    md = (folder / "analysis.md").read_text()
    assert glossary.WHICH_P in md and glossary.NEGATIVE_ICC in md and glossary.LAG_NEGATIVE in md
    assert "## Glossary" in md and "## Data quality" in md and "## Paused and re-watched" in md
    assert "Mode lowest (the published method)" in md
    assert "Session Q: Bond" in md
    assert "Bond" in (folder / "analysis.svg").read_text()
    assert ROLE_COLOURS["client"].lower() in (folder / "analysis.svg").read_text().lower()


def test_a_best_lag_at_the_search_limit_is_flagged(tmp_path: Path) -> None:
    from tests.analysis.sessions import per_second, played, write_session

    rng = np.random.default_rng(5)
    client = np.cumsum(rng.normal(0, 1, 400))
    therapist = np.empty_like(client)
    therapist[8:] = client[:-8]  # follows by 8 s, beyond a search of ±3 s
    therapist[:8] = client[0]
    traces = [
        played("d1", "client", per_second(client), 400.0),
        played("d2", "therapist", per_second(therapist), 400.0),
    ]
    folder = write_session(tmp_path / "s", "L", traces)
    assert main(["analyze", str(folder), "--max-lag", "3", "--no-figure"]) == 0
    assert glossary.LAG_AT_LIMIT.format(limit=3) in (folder / "analysis.md").read_text()
    assert load_analysis(folder / "analysis.json").construct_name == "Working alliance"


def test_one_colour_per_role() -> None:
    assert colours(["therapist", "client", "client", "coder", "rater2"]) == {
        "therapist": ROLE_COLOURS["therapist"],
        "client": ROLE_COLOURS["client"],
        "coder": "#E69F00",
        "rater2": "#56B4E9",
    }
