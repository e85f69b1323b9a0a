"""The per-second grid and `microdial export`, on session folders written in the recorder's format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microdial.analysis.grid import GridOptions, build_grid, grid_for
from microdial.cli import main
from microdial.errors import MicrodialError
from microdial.store.format import SessionMeta
from microdial.store.importers import ColumnLayout, import_file
from microdial.store.reader import DialSamples
from tests.analysis.sessions import HOST_T0, DialTrace, per_second, played, write_session


def step_mean(times: np.ndarray, values: np.ndarray, lo: float, hi: float) -> float:
    """Independent reference: the step function sampled every 0.1 ms over [lo, hi)."""
    grid = np.arange(lo, hi, 1e-4)
    idx = np.searchsorted(times, grid, side="right") - 1
    return float(values[idx].mean())


def test_constant_seconds_come_back_exactly(tmp_path: Path) -> None:
    truth = np.random.default_rng(1).integers(-50, 51, 120).astype(float)
    folder = write_session(tmp_path / "s", "S1", [played("d1", "client", per_second(truth), 120.0, rate=50)])
    grid = grid_for(folder)
    assert grid.clock == "media"
    assert grid.seconds.size == 120
    np.testing.assert_allclose(grid.rater("client").value, truth)
    assert set(grid.rater("client").n_samples.tolist()) == {50}


def test_mean_is_time_weighted_not_sample_weighted(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    times = np.sort(rng.uniform(0, 30, 900))
    times[0] = 0.0
    values = rng.integers(-50, 51, times.size)
    # A burst of samples at one value inside second 5: counting samples would pull the mean to it.
    burst = np.linspace(5.0, 5.05, 60)
    times = np.concatenate([times, burst])
    values = np.concatenate([values, np.full(60, 50)])
    order = np.argsort(times, kind="stable")
    times, values = times[order], values[order]
    trace = DialTrace("d1", "client", HOST_T0 + times, values, media_time=times.copy())
    grid = grid_for(write_session(tmp_path / "s", "S2", [trace]), GridOptions(max_hold=5.0))
    got = grid.rater("client").value
    for second in range(29):
        assert got[second] == pytest.approx(step_mean(times, values, second, second + 1), abs=0.02)
    assert grid.rater("client").n_samples.sum() == times.size


def test_pause_adds_no_media_time_and_ignores_turns_while_paused(tmp_path: Path) -> None:
    rate = 50.0
    play1 = np.arange(0, 10, 1 / rate)
    pause = np.arange(0, 5, 1 / rate)
    play2 = np.arange(10, 20, 1 / rate)
    host = np.concatenate([play1, 10 + pause, 15 + (play2 - 10)])
    media = np.concatenate([play1, np.full(pause.size, 10.0), play2])
    values = np.concatenate([np.full(play1.size, 10), np.full(pause.size, -50), np.full(play2.size, 20)])
    playback = ["playing"] * play1.size + ["paused"] * pause.size + ["playing"] * play2.size
    trace = DialTrace("d1", "client", HOST_T0 + host, values, media_time=media, playback=playback)
    grid = grid_for(write_session(tmp_path / "s", "S3", [trace]))
    value = grid.rater("client").value
    assert grid.seconds.size == 20
    np.testing.assert_allclose(value[:10], 10)
    np.testing.assert_allclose(value[10:], 20)
    assert grid.rater("client").coverage.max() == pytest.approx(1.0, abs=1e-6)


def test_rewatched_seconds_average_over_viewings(tmp_path: Path) -> None:
    rate = 50.0
    first = np.arange(0, 20, 1 / rate)
    second = np.arange(5, 15, 1 / rate)
    media = np.concatenate([first, second])
    host = np.concatenate([first, 20 + (second - 5)])
    values = np.concatenate([np.full(first.size, 10), np.full(second.size, 30)])
    disc = np.zeros(media.size, dtype=bool)
    disc[first.size] = True
    trace = DialTrace("d1", "client", HOST_T0 + host, values, media_time=media, discontinuity=disc)
    grid = grid_for(write_session(tmp_path / "s", "S4", [trace]))
    value = grid.rater("client").value
    np.testing.assert_allclose(value[:5], 10)
    np.testing.assert_allclose(value[5:15], 20)
    np.testing.assert_allclose(value[15:20], 10)
    np.testing.assert_allclose(grid.rater("client").coverage[5:15], 2.0, atol=1e-6)


def test_missing_data_is_a_gap_not_interpolated(tmp_path: Path) -> None:
    trace = played("d1", "client", lambda t: np.full_like(t, 7.0), 30.0)
    keep = (trace.media_time < 10) | (trace.media_time >= 20)  # type: ignore[operator]
    trace = DialTrace("d1", "client", trace.host_time[keep], trace.value[keep], trace.media_time[keep])  # type: ignore[index]
    value = grid_for(write_session(tmp_path / "s", "S5", [trace])).rater("client").value
    assert np.isnan(value[10:20]).all()
    np.testing.assert_allclose(value[:10], 7)
    np.testing.assert_allclose(value[20:], 7)


def test_session_clock_aligns_raters_and_rates_do_not_matter(tmp_path: Path) -> None:
    truth = np.random.default_rng(3).integers(-50, 51, 60).astype(float)
    fast = played("d1", "client", per_second(truth), 60.0, rate=100, media=False)
    slow = played("d2", "therapist", per_second(truth), 60.0, rate=25, media=False)
    late = slow.host_time >= HOST_T0 + 3.0 + 2.0  # the therapist's dial starts two seconds late
    slow = DialTrace("d2", "therapist", slow.host_time[late], slow.value[late])
    grid = grid_for(write_session(tmp_path / "s", "S6", [fast, slow]))
    assert grid.clock == "session"
    np.testing.assert_allclose(grid.rater("client").value, truth)
    assert np.isnan(grid.rater("therapist").value[:2]).all()
    np.testing.assert_allclose(grid.rater("therapist").value[2:], truth[2:])


def test_export_writes_long_and_wide_csv_and_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = np.arange(-20, 20, dtype=float)
    a = played("d1", "client", per_second(truth), 40.0)
    b = played("d2", "therapist", per_second(-truth), 30.0)
    folder = write_session(tmp_path / "s", "S7", [a, b])
    assert main(["export", str(folder)]) == 0
    wide = pq.read_table(folder / "grid.wide.parquet").to_pydict()
    assert list(wide) == ["second", "client", "therapist"]
    assert wide["client"] == truth.tolist()
    assert wide["therapist"][:30] == (-truth[:30]).tolist()
    assert wide["therapist"][30:] == [None] * 10
    long = pq.read_table(folder / "grid.long.parquet")
    assert long.column_names == ["second", "role", "dial", "value", "n_samples"]
    assert long.num_rows == 80
    assert pacsv.read_csv(folder / "grid.long.csv").to_pydict() == long.to_pydict()
    wide_lines = (folder / "grid.wide.csv").read_text().splitlines()
    assert wide_lines[0] == '"second","client","therapist"' or wide_lines[0] == "second,client,therapist"
    assert wide_lines[-1] == "39,19,"
    out = tmp_path / "elsewhere"
    assert main(["export", str(folder), "--out", str(out)]) == 0
    assert (out / "grid.wide.csv").read_text() == (folder / "grid.wide.csv").read_text()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("no-meta", "has no session.json"),
        ("bad-value", "values outside the session's scale"),
        ("empty-value", "rows have an empty value"),
        ("bad-column", "lacks columns"),
        ("not-a-number", "not a valid samples file"),
        ("no-samples", "has no samples"),
    ],
)
def test_bad_folders_give_one_line_errors_and_stay_untouched(
    tmp_path: Path, damage: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_session(tmp_path / "s", "S8", [played("d1", "client", lambda t: t * 0, 5.0)])
    csv = folder / "d1.samples.csv"
    lines = csv.read_text().splitlines()
    if damage == "no-meta":
        (folder / "session.json").unlink()
    elif damage == "bad-value":
        lines[3] = lines[3].replace(",0,", ",99,", 1)
    elif damage == "empty-value":
        lines[3] = lines[3].replace(",0,", ",,", 1)
    elif damage == "bad-column":
        lines[0] = lines[0].replace("host_time", "hosttime")
    elif damage == "not-a-number":
        lines[3] = lines[3].replace(",0,", ",zero,", 1)
    elif damage == "no-samples":
        lines = lines[:1]
    csv.write_text("\n".join(lines) + "\n")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(MicrodialError, match=message):
        grid_for(folder)
    assert main(["export", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.floats(0.001, 0.4), min_size=5, max_size=200),
    values=st.lists(st.integers(-50, 50), min_size=200, max_size=200),
)
def test_any_step_function_matches_the_dense_reference(steps: list[float], values: list[int]) -> None:
    times = np.concatenate([[0.0], np.cumsum(steps)])
    vals = np.array(values[: times.size], dtype=float)
    samples = DialSamples(
        dial="d1",
        role="client",
        host_time=HOST_T0 + times,
        media_time=times.copy(),
        value=vals,
        still=np.zeros(times.size, dtype=bool),
        discontinuity=np.zeros(times.size, dtype=bool),
    )
    grid = build_grid(SessionMeta(session="H"), [samples], GridOptions(max_hold=0.5, min_coverage=0.999))
    # The last sample holds for the median step; extend the reference step function the same way.
    end = times[-1] + min(float(np.median(steps)), 0.5)
    for second, got in enumerate(grid.rater("client").value):
        if second + 1 <= end:
            assert got == pytest.approx(step_mean(times, vals, second, second + 1), abs=0.02)
        elif end - second < 0.998:
            assert np.isnan(got)


def test_one_sample_per_second_sources_fill_their_seconds(tmp_path: Path) -> None:
    truth = np.random.default_rng(6).integers(-50, 51, 90).astype(float)
    slow = played("d1", "client", per_second(truth), 90.0, rate=1.0)
    value = grid_for(write_session(tmp_path / "s", "S9", [slow])).rater("client").value
    np.testing.assert_allclose(value, truth)


def test_one_hz_data_leaves_a_missing_second_empty(tmp_path: Path) -> None:
    """1 Hz ratings with the sample of second 4 lost: second 4 is a gap, not the value of second 3."""
    times = np.array([0.0, 1, 2, 3, 5, 6, 7])
    values = np.array([1, 2, 3, 4, 6, 7, 8])
    trace = DialTrace("d1", "client", HOST_T0 + times, values, media_time=times.copy())
    got = grid_for(write_session(tmp_path / "s", "S", [trace])).rater("client").value
    np.testing.assert_array_equal(got, [1, 2, 3, 4, np.nan, 6, 7, 8])


def test_a_value_never_holds_longer_than_max_hold_on_the_media_clock(tmp_path: Path) -> None:
    """10 Hz samples with 0.7 s lost after 1.0 s: the value at 1.0 s covers 0.5 s of second 1."""
    times = np.concatenate([np.arange(0.0, 1.05, 0.1), np.arange(1.7, 3.0, 0.1)])
    trace = DialTrace("d1", "client", HOST_T0 + times, np.full(times.size, 10), media_time=times.copy())
    series = grid_for(write_session(tmp_path / "s", "S", [trace])).rater("client")
    assert series.coverage[1] == pytest.approx(0.5 + 0.3)


def test_a_changes_only_log_holds_each_value_until_the_next_change(tmp_path: Path) -> None:
    """A slider log with a row per change: 10 until 7.3 s, then 20 until 12 s, then alternating."""
    times = [0.0, 7.3, 12.0, 12.5, 13.0, 16.0, 16.2, 20.0, 21.0, 30.0, 31.0]
    values = [10, 20, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    source = tmp_path / "log.csv"
    source.write_text("t,v\n" + "".join(f"{t},{v}\n" for t, v in zip(times, values, strict=True)))
    layout = ColumnLayout(time="t", values=["v"], low=-50, high=50)
    import_file("columns", source, session="L", role="client", out=tmp_path, layout=layout)
    meta = SessionMeta.load(tmp_path / "L")
    assert meta.dials["columns-log"].imported is not None
    assert meta.dials["columns-log"].imported["changes_only"] is True  # detected
    got = grid_for(tmp_path / "L").rater("client").value
    np.testing.assert_allclose(got[:7], 10)
    assert got[7] == pytest.approx(0.3 * 10 + 0.7 * 20)
    np.testing.assert_allclose(got[8:12], 20)
    np.testing.assert_allclose(got[21:30], 11)  # held nine seconds, to the next row
    # Told it is a sampled trace, the same file keeps its gaps.
    import_file(
        "columns",
        source,
        session="M",
        role="client",
        out=tmp_path,
        layout=layout.model_copy(update={"changes_only": False}),
    )
    assert np.isnan(grid_for(tmp_path / "M").rater("client").value[3])
