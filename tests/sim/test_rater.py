"""The simulated raters and the hand that turns the knob (pure Python, no fakes needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dialwire import VALUE_MAX, VALUE_MIN
from microdial.errors import ConfigError
from microdial.sim.rater import Hand, RandomRater, ScriptedRater, SteadyRater


def trajectory(rater: RandomRater, step: float = 1.0) -> np.ndarray:
    return np.array([rater.target(t * step) for t in range(int(rater.duration_s / step))])


def test_random_rater_is_seeded_and_bounded() -> None:
    a = trajectory(RandomRater("client", 4))
    assert np.array_equal(a, trajectory(RandomRater("client", 4)))
    assert not np.array_equal(a, trajectory(RandomRater("client", 5)))
    assert a.min() >= VALUE_MIN - 4 and a.max() <= VALUE_MAX + 4


def test_client_and_therapist_are_correlated_but_different() -> None:
    correlations = []
    for seed in range(6):
        client = trajectory(RandomRater("client", seed))
        therapist = trajectory(RandomRater("therapist", seed))
        assert np.abs(client - therapist).mean() > 3
        correlations.append(np.corrcoef(client, therapist)[0, 1])
    assert np.mean(correlations) > 0.4


def test_random_rater_has_ruptures_and_repairs() -> None:
    client = trajectory(RandomRater("client", 2))
    # A rupture: a drop of 15+ points within 30 s, then a recovery within a few minutes.
    drops = [i for i in range(len(client) - 30) if client[i] - client[i + 30] > 15]
    assert drops
    first = drops[0]
    assert client[first + 30 : first + 400].max() > client[first + 30] + 10


def test_unknown_role_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown rater role"):
        RandomRater("supervisor")


def test_scripted_rater_interpolates_and_holds() -> None:
    rater = ScriptedRater([(1.0, 10.0), (3.0, -10.0)])
    assert [rater.target(t) for t in (0.0, 1.0, 2.0, 3.0, 9.0)] == [10.0, 10.0, 0.0, -10.0, -10.0]


def test_scripted_rater_from_csv(tmp_path: Path) -> None:
    script = tmp_path / "r.csv"
    script.write_text("time_s,value\n0,0\n2,40\n")
    assert ScriptedRater.from_csv(script).target(1.0) == 20.0
    script.write_text("0,0\n1,lots\n")
    with pytest.raises(ConfigError, match=r"r.csv:2: expected time_s,value"):
        ScriptedRater.from_csv(script)
    with pytest.raises(ConfigError, match="cannot read"):
        ScriptedRater.from_csv(tmp_path / "missing.csv")
    script.write_text("time_s,value\n")
    with pytest.raises(ConfigError, match="at least one"):
        ScriptedRater.from_csv(script)


def test_exact_hand_spins_at_once_and_pushes_a_stop_only_briefly() -> None:
    hand = Hand(SteadyRater(60))
    assert hand.tick(0.0, 0) == 60
    pushes = [hand.tick(0.001 * n, 50) for n in range(10)]
    assert pushes == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]


def test_human_hand_moves_one_detent_at_a_human_speed() -> None:
    hand = Hand(RandomRater("client", 1), seed=1)
    shown = 0
    moves = 0
    for ms in range(60_000):
        turn = hand.tick(ms / 1000, shown)
        assert turn in (-1, 0, 1)
        if turn:
            moves += 1
            shown = max(VALUE_MIN, min(VALUE_MAX, shown + turn))
    assert 10 < moves < 60 * 25
    assert abs(shown - RandomRater("client", 1).target(60.0)) < 10
