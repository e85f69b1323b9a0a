"""Every statistic against an independent reference (scipy.stats, numpy) on generated data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from microdial.analysis import stats
from microdial.errors import MicrodialError


def ar1(n: int, phi: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.normal(size=n)
    x = np.empty(n)
    x[0] = e[0]
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


def test_pearson_matches_scipy_with_gaps() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=500)
    y = 0.4 * x + rng.normal(size=500)
    x[::17] = np.nan
    y[5::23] = np.nan
    both = np.isfinite(x) & np.isfinite(y)
    ref = sps.pearsonr(x[both], y[both])
    got = stats.pearson(x, y)
    assert got.n == both.sum()
    assert got.r == pytest.approx(ref.statistic, abs=1e-12)
    assert got.p == pytest.approx(ref.pvalue, rel=1e-9)


def test_constant_series_has_undefined_r_with_a_reason() -> None:
    x = np.full(100, 10.0)
    y = np.arange(100.0)
    got = stats.congruence(x, y)
    assert got.r is None and got.p is None
    assert got.note == "r undefined: the first rater rated a constant series"
    assert stats.pearson(np.array([1.0, 2.0]), np.array([2.0, 1.0])).note.startswith("only 2 seconds")


def test_different_lengths_are_an_error() -> None:
    with pytest.raises(MicrodialError, match="different lengths"):
        stats.pearson(np.arange(10.0), np.arange(12.0))


def test_autocorrelation_matches_direct_numpy() -> None:
    x = ar1(400, 0.8, 2)
    c = x - x.mean()
    direct = np.array([np.dot(c[: c.size - j], c[j:]) for j in range(21)]) / np.dot(c, c)
    np.testing.assert_allclose(stats.autocorrelation(x, 20), direct, atol=1e-12)


def test_effective_n_pyper_peterman_by_hand_and_its_p_value() -> None:
    x = ar1(600, 0.9, 3)
    y = 0.3 * x + ar1(600, 0.9, 4)
    n = x.size
    cx, cy = x - x.mean(), y - y.mean()

    def rho(c: np.ndarray, j: int) -> float:
        return float(np.dot(c[: n - j], c[j:]) / np.dot(c, c))

    inv = 1 / n + (2 / n) * sum((n - j) / n * rho(cx, j) * rho(cy, j) for j in range(1, n // 5 + 1))
    expected = min(n, max(3.0, 1 / inv))
    got = stats.congruence(x, y)
    assert got.n_eff == pytest.approx(expected, rel=1e-9)
    assert got.n_eff < n / 3  # strongly autocorrelated: far fewer independent seconds
    r = sps.pearsonr(x, y).statistic
    df = expected - 2
    t = r * np.sqrt(df / (1 - r * r))
    assert got.p_autocorrelation == pytest.approx(2 * sps.t.sf(abs(t), df), rel=1e-9)
    assert got.p_autocorrelation > got.p  # type: ignore[operator]


def test_white_noise_keeps_nearly_all_its_n() -> None:
    rng = np.random.default_rng(5)
    got = stats.congruence(rng.normal(size=2000), rng.normal(size=2000))
    assert got.n_eff == pytest.approx(2000, rel=0.15)


def test_lagged_finds_a_planted_delay_and_each_r_matches_scipy() -> None:
    base = ar1(700, 0.5, 6)
    x = base[10:610]
    y = base[7:607]  # y_t = x_{t-3}: the second rater follows by 3 s
    curve = stats.lagged(x, y, 10)
    assert curve.best_lag == 3
    assert curve.best_r == pytest.approx(1.0)
    for lag, r in zip(curve.lags, curve.r, strict=True):
        a, b = (x[: x.size - lag], y[lag:]) if lag >= 0 else (x[-lag:], y[: y.size + lag])
        assert r == pytest.approx(sps.pearsonr(a, b).statistic, abs=1e-9)


def test_windowed_synchrony_matches_scipy_per_window() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=300)
    y = np.where(np.arange(300) < 150, x + 0.2 * rng.normal(size=300), rng.normal(size=300))
    x[40:45] = np.nan
    curve = stats.windowed(x, y, 30, 5)
    assert len(curve.r) == (300 - 30) // 5 + 1
    for centre, r in zip(curve.centre, curve.r, strict=True):
        lo = int(centre - 15)
        a, b = x[lo : lo + 30], y[lo : lo + 30]
        both = np.isfinite(a) & np.isfinite(b)
        assert r == pytest.approx(sps.pearsonr(a[both], b[both]).statistic, abs=1e-9)
    assert min(r for r in curve.r[:20] if r is not None) > 0.9
    flat = stats.windowed(np.ones(100), np.arange(100.0), 30, 10)
    assert flat.r == [None] * len(flat.r)


def test_discrepancy_against_numpy() -> None:
    rng = np.random.default_rng(8)
    x = rng.integers(-50, 51, 400).astype(float)
    y = rng.integers(-50, 51, 400).astype(float)
    y[::9] = np.nan
    got = stats.discrepancy(x, y)
    both = np.isfinite(y)
    d = x[both] - y[both]
    assert got.mean == pytest.approx(d.mean())
    assert got.sd == pytest.approx(np.std(d, ddof=1))
    assert got.share_first_higher == pytest.approx(np.mean(d > 0))
    assert got.share_second_higher == pytest.approx(np.mean(d < 0))
    assert got.share_first_higher + got.share_second_higher + got.share_equal == pytest.approx(1.0)  # type: ignore[operator]


def test_icc_reproduces_shrout_fleiss_1979() -> None:
    # Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges. ICC(2,1)=.29, ICC(3,1)=.71,
    # ICC(2,4)=.62, ICC(3,4)=.91; in McGraw & Wong's terms A,1 / C,1 / A,k / C,k.
    data = np.array(
        [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], dtype=float
    )
    got = stats.icc(data)
    assert got.a1 == pytest.approx(0.2898, abs=5e-4)
    assert got.c1 == pytest.approx(0.7148, abs=5e-4)
    assert got.ak == pytest.approx(0.6201, abs=5e-4)
    assert got.ck == pytest.approx(0.9093, abs=5e-4)


def test_icc_against_least_squares_anova() -> None:
    rng = np.random.default_rng(9)
    n, k = 80, 3
    target = rng.normal(0, 10, n)[:, None]
    data = target + np.array([0.0, 4.0, -2.0]) + rng.normal(0, 3, (n, k))
    # Independent route: residual SS from a dummy-coded two-way regression.
    rows = np.repeat(np.eye(n), k, axis=0)
    cols = np.tile(np.eye(k), (n, 1))
    design = np.column_stack([rows, cols[:, 1:]])
    yv = data.ravel()
    fit = np.linalg.lstsq(design, yv, rcond=None)[0]
    sse = float(np.sum((yv - design @ fit) ** 2))
    msr = k * np.var(data.mean(axis=1), ddof=1)
    msc = n * np.var(data.mean(axis=0), ddof=1)
    mse = sse / ((n - 1) * (k - 1))
    got = stats.icc(data)
    assert got.c1 == pytest.approx((msr - mse) / (msr + (k - 1) * mse))
    assert got.a1 == pytest.approx((msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n))
    assert got.ck == pytest.approx((msr - mse) / msr)
    assert got.ak == pytest.approx((msr - mse) / (msr + (msc - mse) / n))
    assert got.a1 < got.c1  # type: ignore[operator]  # rater offsets cost absolute agreement only


def test_icc_edge_cases() -> None:
    assert stats.icc(np.array([[1.0, 2.0], [np.nan, 3.0]])).note.startswith("only 1 seconds")
    assert "do not vary" in stats.icc(np.full((10, 2), 5.0)).note
    with pytest.raises(MicrodialError):
        stats.icc(np.ones((5, 1)))


def test_lags_longer_than_the_session_have_no_correlation() -> None:
    x = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    curve = stats.lagged(x, x * 2, max_lag=10)
    assert len(curve.lags) == 21
    assert all(r is None for lag, r in zip(curve.lags, curve.r, strict=True) if abs(lag) >= 5)
    assert curve.best_lag == 0 and curve.best_r == pytest.approx(1.0)
