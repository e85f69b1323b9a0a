"""Planted ruptures and repairs are found where they were planted."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from microdial.analysis.ruptures import Mode, RuptureOptions, drops, find_ruptures

MODES: tuple[Mode, ...] = ("lowest", "drop")


def planted(seed: int = 0) -> np.ndarray:
    """20 ± noise; ruptures at 300 s (repaired from 360 s to 390 s), 900 s (repaired), 1500 s (never)."""
    rng = np.random.default_rng(seed)
    v = 20 + rng.normal(0, 1.0, 1800)
    v[300:360] = -20 + rng.normal(0, 1.0, 60)
    v[360:391] = np.linspace(-20, 20, 31)
    v[900:960] = 0 + rng.normal(0, 1.0, 60)
    v[960:] = np.where(np.arange(960, 1800) < 1000, np.linspace(0, 22, 840)[:40].max(), v[960:])
    v[1500:] = -30 + rng.normal(0, 1.0, 300)
    return v


def test_planted_ruptures_found_at_their_onsets_with_depths() -> None:
    v = planted()
    found = find_ruptures(v, RuptureOptions(mode="drop", k=3, segment=30, separation=30, baseline=60))
    assert [r.number for r in found] == [1, 2, 3]
    assert [r.onset for r in found] == [300, 900, 1500]
    first, second, third = found
    assert 300 <= first.trough < 330
    assert first.pre_level == pytest.approx(20, abs=0.5)
    assert first.depth == pytest.approx(42, abs=3)
    assert second.depth == pytest.approx(22, abs=3)
    assert third.depth == pytest.approx(52, abs=4)
    assert (first.window_start, first.window_end) == (300, 330)
    assert first.repair is not None and first.end == first.repair.end


def test_repairs_turn_upward_and_reach_the_pre_level() -> None:
    v = planted()
    first, second, third = find_ruptures(v, RuptureOptions(mode="drop", k=3, repair_tolerance=0))
    assert first.repair is not None and not first.unresolved
    # The climb starts at the last low point before 360 s and reaches the pre-level near 390 s.
    assert 355 <= first.repair.onset <= 361
    assert 385 <= first.repair.end <= 391
    assert first.repair.time_to_repair == first.repair.end - first.repair.onset
    assert first.repair.size == pytest.approx(v[first.repair.end] - v[first.repair.onset])
    assert v[first.repair.end] >= first.pre_level
    assert second.repair is not None and second.repair.end >= 960
    assert third.unresolved and third.repair is None


def test_partial_repair_fraction_ends_earlier() -> None:
    v = planted()[:800]  # only the first rupture: k=1 would otherwise pick the deepest, at 1500 s
    full = find_ruptures(v, RuptureOptions(mode="drop", k=1, repair_tolerance=0))[0]
    half = find_ruptures(v, RuptureOptions(mode="drop", k=1, repair_fraction=0.5, repair_tolerance=0))[0]
    assert full.onset == half.onset == 300
    assert half.repair is not None and full.repair is not None
    assert half.repair.end < full.repair.end
    assert half.repair.level == pytest.approx(full.pre_level - full.depth / 2)


def test_segments_never_overlap_and_keep_their_separation() -> None:
    rng = np.random.default_rng(4)
    v = np.cumsum(rng.normal(0, 2, 3000)).clip(-50, 50)
    found = find_ruptures(v, RuptureOptions(mode="drop", k=8, segment=40, separation=25, min_depth=0))
    onsets = sorted(r.window_start for r in found)
    assert all(b - a >= 40 + 25 for a, b in itertools.pairwise(onsets))
    # Each reported drop is the segment's score, and greedy picking takes the overall largest first.
    score, _ = drops(v, RuptureOptions(segment=40, baseline=60))
    chosen = {r.window_start: r.mean_drop for r in found}
    for onset, drop in chosen.items():
        assert drop == pytest.approx(score[onset])
    assert max(chosen.values()) == pytest.approx(np.nanmax(score))


def test_flat_or_rising_series_has_no_ruptures_and_gaps_are_skipped() -> None:
    for mode in MODES:
        options = RuptureOptions(mode=mode)
        assert find_ruptures(np.full(600, 10.0), options) == []
        assert find_ruptures(np.linspace(-40, 40, 600), options) == []
        assert find_ruptures(np.full(50, np.nan), options) == []
    v = planted()
    v[100:200] = np.nan  # a long gap before the first rupture changes nothing
    assert [r.onset for r in find_ruptures(v, RuptureOptions(mode="drop"))] == [300, 900, 1500]


def test_lowest_mode_finds_a_slow_slide_that_drop_mode_misses() -> None:
    """20 for 600 s, a 480-s slide to -20, -20 for 300 s, back to 20 at 1380 s."""
    v = np.concatenate(
        [np.full(600, 20.0), np.linspace(20, -20, 480), np.full(300, -20.0), np.full(300, 20.0)]
    )
    assert find_ruptures(v, RuptureOptions(mode="drop")) == []
    (rupture,) = find_ruptures(v, RuptureOptions(mode="lowest"))
    assert rupture.pre_level == 20 and rupture.trough_value == -20 and rupture.depth == 40
    # Onset: the first second more than 10 % of the depth (4 points) below the pre-level.
    assert rupture.onset == int(np.flatnonzero(v < 16)[0])
    assert rupture.repair is not None and rupture.repair.end == rupture.end == 1380


def test_a_return_to_the_same_dial_position_is_a_repair() -> None:
    """The rater alternates 20 and 21 (mean 20.5), dips to 0 and comes back to 20 exactly."""
    v = np.concatenate([np.tile([20.0, 21.0], 100), np.full(30, 0.0), np.full(200, 20.0)])
    for mode in MODES:
        (rupture,) = find_ruptures(v, RuptureOptions(mode=mode))
        assert rupture.pre_level == 20.5
        assert rupture.repair is not None and rupture.repair.end == 230
        strict = find_ruptures(v, RuptureOptions(mode=mode, repair_tolerance=0))
        assert strict[0].unresolved


def test_onset_where_the_rating_falls_and_end_where_it_recovers() -> None:
    """A 10-s dip at 200 s inside a 30-s window: onset 200 (not the window's start), end 210."""
    v = np.concatenate([np.full(200, 20.0), np.full(10, 0.0), np.full(190, 20.0)])
    for mode in MODES:
        (rupture,) = find_ruptures(v, RuptureOptions(mode=mode))
        assert (rupture.onset, rupture.trough, rupture.end) == (200, 200, 210)
        assert rupture.window_start <= 200 < rupture.window_end


def test_edges_need_half_of_each_window_rated() -> None:
    early = np.concatenate([np.full(40, 20.0), np.full(30, -20.0), np.full(300, 20.0)])
    too_early = np.concatenate([np.full(20, 20.0), np.full(30, -20.0), np.full(300, 20.0)])
    late = np.concatenate([np.full(585, 20.0), np.full(15, -20.0)])
    too_late = np.concatenate([np.full(586, 20.0), np.full(14, -20.0)])
    for mode in MODES:
        options = RuptureOptions(mode=mode)
        assert [r.onset for r in find_ruptures(early, options)] == [40]
        # A preceding window is first half rated 30 s in: the fall at 20 s is measured from there.
        (first,) = find_ruptures(too_early, options)
        assert (first.window_start, first.onset) == (30, 20)
        assert first.pre_level == pytest.approx(20 / 3)
        (end,) = find_ruptures(late, options)
        assert (end.onset, end.window_start, end.end, end.unresolved) == (585, 585, 600, True)
        # The last window starts half a segment before the end; the fall inside it is the onset.
        (last,) = find_ruptures(too_late, options)
        assert (last.window_start, last.onset, last.end) == (585, 586, 600)
