"""Planted ruptures and repairs are found where they were planted."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from microdial.analysis.ruptures import RuptureOptions, drops, find_ruptures


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
    found = find_ruptures(v, RuptureOptions(k=3, segment=30, separation=30, baseline=60))
    assert [r.number for r in found] == [1, 2, 3]
    assert [r.onset for r in found] == [300, 900, 1500]
    first, second, third = found
    assert 300 <= first.trough < 330
    assert first.pre_level == pytest.approx(20, abs=0.5)
    assert first.depth == pytest.approx(42, abs=3)
    assert second.depth == pytest.approx(22, abs=3)
    assert third.depth == pytest.approx(52, abs=4)
    assert first.end == 330


def test_repairs_turn_upward_and_reach_the_pre_level() -> None:
    v = planted()
    first, second, third = find_ruptures(v, RuptureOptions(k=3))
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
    full = find_ruptures(v, RuptureOptions(k=1))[0]
    half = find_ruptures(v, RuptureOptions(k=1, repair_fraction=0.5))[0]
    assert full.onset == half.onset == 300
    assert half.repair is not None and full.repair is not None
    assert half.repair.end < full.repair.end
    assert half.repair.level == pytest.approx(full.pre_level - full.depth / 2)


def test_segments_never_overlap_and_keep_their_separation() -> None:
    rng = np.random.default_rng(4)
    v = np.cumsum(rng.normal(0, 2, 3000)).clip(-50, 50)
    found = find_ruptures(v, RuptureOptions(k=8, segment=40, separation=25, min_depth=0))
    onsets = sorted(r.onset for r in found)
    assert all(b - a >= 40 + 25 for a, b in itertools.pairwise(onsets))
    # Each reported drop is the segment's score, and greedy picking takes the overall largest first.
    score, _ = drops(v, RuptureOptions(segment=40, baseline=60))
    chosen = {r.onset: r.mean_drop for r in found}
    for onset, drop in chosen.items():
        assert drop == pytest.approx(score[onset])
    assert max(chosen.values()) == pytest.approx(np.nanmax(score))


def test_flat_or_rising_series_has_no_ruptures_and_gaps_are_skipped() -> None:
    assert find_ruptures(np.full(600, 10.0)) == []
    assert find_ruptures(np.linspace(-40, 40, 600)) == []
    v = planted()
    v[100:200] = np.nan  # a long gap before the first rupture changes nothing
    assert [r.onset for r in find_ruptures(v)] == [300, 900, 1500]
    assert find_ruptures(np.full(50, np.nan)) == []
