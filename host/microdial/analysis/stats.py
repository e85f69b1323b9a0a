"""Statistics on two per-second series (NaN = gap): congruence, discrepancy, agreement.

Every function pairs the series second by second and uses only seconds where both raters have a
value. Undefined results (a constant series, too few seconds) come back as None with a reason,
never as NaN in a report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from microdial.analysis.grid import AnalysisError

FloatArray = npt.NDArray[np.float64]

MIN_PAIRS = 3


@dataclass(frozen=True)
class Correlation:
    n: int
    r: float | None
    p: float | None
    n_eff: float | None = None
    p_autocorrelation: float | None = None
    note: str = ""


def _paired(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    if x.shape != y.shape:
        raise AnalysisError(
            f"series of different lengths ({x.size} and {y.size} seconds): put them on one grid"
        )
    both = np.isfinite(x) & np.isfinite(y)
    return x[both], y[both]


Names = tuple[str, str]
UNNAMED: Names = ("the first rater", "the second rater")


def _undefined(x: FloatArray, y: FloatArray, names: Names) -> str:
    if x.size < MIN_PAIRS:
        return f"only {x.size} seconds rated by both (need {MIN_PAIRS})"
    flat = [name for name, s in zip(names, (x, y), strict=True) if float(np.ptp(s)) == 0.0]
    if flat:
        return f"r undefined: {' and '.join(flat)} rated a constant series"
    return ""


def _p_from_r(r: float, df: float) -> float:
    if abs(r) >= 1.0:
        return 0.0
    t = r * math.sqrt(df / (1.0 - r * r))
    return float(2.0 * sps.t.sf(abs(t), df))


def pearson(x: FloatArray, y: FloatArray, names: Names = UNNAMED) -> Correlation:
    """Pearson r with its two-sided p (t test on n-2 df)."""
    a, b = _paired(x, y)
    note = _undefined(a, b, names)
    if note:
        return Correlation(n=int(a.size), r=None, p=None, note=note)
    r = _r(a, b)
    return Correlation(n=int(a.size), r=r, p=_p_from_r(r, a.size - 2))


def _r(a: FloatArray, b: FloatArray) -> float:
    da = a - a.mean()
    db = b - b.mean()
    r = float(np.dot(da, db) / math.sqrt(float(np.dot(da, da)) * float(np.dot(db, db))))
    return max(-1.0, min(1.0, r))


def autocorrelation(x: FloatArray, max_lag: int) -> FloatArray:
    """Biased sample autocorrelation rho(0..max_lag) of a gappy series (gaps skip their pairs)."""
    valid = np.isfinite(x)
    n = int(valid.sum())
    centred = np.where(valid, x - (np.nanmean(x) if n else 0.0), 0.0)
    denom = float(np.dot(centred, centred))
    size = 1 << int(2 * x.size - 1).bit_length()
    spectrum = np.fft.rfft(centred, size)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), size)[: max_lag + 1]
    return np.asarray(acov / denom if denom > 0 else np.zeros(max_lag + 1), dtype=np.float64)


def effective_n(x: FloatArray, y: FloatArray) -> float:
    """Pyper & Peterman (1998): 1/N* = 1/N + (2/N) sum_{j=1}^{N/5} ((N-j)/N) rho_xx(j) rho_yy(j).

    Computed on the seconds both raters rated (gaps stay in place so lags are in seconds), and
    bounded to [3, N] as the authors advise.
    """
    both = np.isfinite(x) & np.isfinite(y)
    n = int(both.sum())
    lags = max(1, n // 5)
    xs = np.where(both, x, np.nan)
    ys = np.where(both, y, np.nan)
    rxx = autocorrelation(xs, lags)[1:]
    ryy = autocorrelation(ys, lags)[1:]
    j = np.arange(1, lags + 1)
    inv = 1.0 / n + (2.0 / n) * float(np.sum((n - j) / n * rxx * ryy))
    return float(min(n, max(3.0, 1.0 / inv))) if inv > 0 else float(n)


def congruence(x: FloatArray, y: FloatArray, names: Names = UNNAMED) -> Correlation:
    """Pearson r and p, plus the p-value on Pyper–Peterman's effective N (df = N* - 2)."""
    base = pearson(x, y, names)
    if base.r is None:
        return base
    n_eff = effective_n(x, y)
    return Correlation(
        n=base.n, r=base.r, p=base.p, n_eff=n_eff, p_autocorrelation=_p_from_r(base.r, max(n_eff - 2.0, 1.0))
    )


@dataclass(frozen=True)
class LagCurve:
    lags: list[int]  # positive: the second rater follows the first by that many seconds
    r: list[float | None]
    best_lag: int | None
    best_r: float | None


def lagged(x: FloatArray, y: FloatArray, max_lag: int) -> LagCurve:
    """r(x_t, y_{t+lag}) for lag in -max_lag..max_lag; best lag = highest r (ties: smallest |lag|)."""
    _paired(x, y)
    lags = list(range(-max_lag, max_lag + 1))
    rs: list[float | None] = []
    for lag in lags:
        if abs(lag) >= x.size:
            rs.append(None)  # a session shorter than the lag has no overlapping seconds
            continue
        if lag >= 0:
            a, b = x[: x.size - lag], y[lag:]
        else:
            a, b = x[-lag:], y[: y.size + lag]
        rs.append(pearson(a, b).r if a.size else None)
    defined = [(r, -abs(lag), lag) for lag, r in zip(lags, rs, strict=True) if r is not None]
    if not defined:
        return LagCurve(lags, rs, None, None)
    best = max(defined)
    return LagCurve(lags, rs, best[2], best[0])


@dataclass(frozen=True)
class SynchronyCurve:
    centre: list[float]  # seconds, middle of each window
    r: list[float | None]
    window: int
    step: int


def windowed(
    x: FloatArray, y: FloatArray, window: int, step: int, min_pairs: int | None = None
) -> SynchronyCurve:
    """Zero-lag Pearson r in sliding windows (running sums, so O(N) for any window)."""
    _paired(x, y)
    need = min_pairs if min_pairs is not None else max(MIN_PAIRS, window // 2)
    both = np.isfinite(x) & np.isfinite(y)
    xs = np.where(both, x, 0.0)
    ys = np.where(both, y, 0.0)

    def run(v: FloatArray) -> FloatArray:
        return np.concatenate([[0.0], np.cumsum(v)])

    c_n, c_x, c_y = run(both.astype(float)), run(xs), run(ys)
    c_xx, c_yy, c_xy = run(xs * xs), run(ys * ys), run(xs * ys)
    starts = np.arange(0, max(x.size - window + 1, 0), step)
    ends = starts + window
    n = c_n[ends] - c_n[starts]
    sx, sy = c_x[ends] - c_x[starts], c_y[ends] - c_y[starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = (c_xy[ends] - c_xy[starts]) - sx * sy / n
        vx = (c_xx[ends] - c_xx[starts]) - sx * sx / n
        vy = (c_yy[ends] - c_yy[starts]) - sy * sy / n
        r = np.clip(cov / np.sqrt(vx * vy), -1.0, 1.0)
    # Running sums lose digits; a variance this small relative to the window is a flat window.
    flat = (vx <= 1e-9 * np.maximum(n, 1)) | (vy <= 1e-9 * np.maximum(n, 1))
    ok = (n >= need) & ~flat & np.isfinite(r)
    return SynchronyCurve(
        centre=(starts + window / 2.0).tolist(),
        r=[float(v) if good else None for v, good in zip(r, ok, strict=True)],
        window=window,
        step=step,
    )


@dataclass(frozen=True)
class Discrepancy:
    n: int
    mean: float | None
    sd: float | None
    share_first_higher: float | None
    share_second_higher: float | None
    share_equal: float | None


def discrepancy(x: FloatArray, y: FloatArray) -> Discrepancy:
    """Per-second x - y: mean, SD (n-1) and the share of seconds each rater rated higher."""
    a, b = _paired(x, y)
    if a.size == 0:
        return Discrepancy(0, None, None, None, None, None)
    d = a - b
    return Discrepancy(
        n=int(d.size),
        mean=float(d.mean()),
        sd=float(d.std(ddof=1)) if d.size > 1 else None,
        share_first_higher=float(np.mean(d > 0)),
        share_second_higher=float(np.mean(d < 0)),
        share_equal=float(np.mean(d == 0)),
    )


@dataclass(frozen=True)
class Icc:
    n: int
    k: int
    a1: float | None
    c1: float | None
    ak: float | None
    ck: float | None
    note: str = ""


def icc(ratings: FloatArray) -> Icc:
    """McGraw & Wong (1996) ICC(A,1), ICC(C,1), ICC(A,k), ICC(C,k) from a two-way ANOVA.

    `ratings` is targets (seconds) x raters; rows with a gap are dropped.
    """
    if ratings.ndim != 2 or ratings.shape[1] < 2:
        raise AnalysisError("ICC needs a targets x raters matrix with at least two raters")
    data = ratings[np.isfinite(ratings).all(axis=1)]
    n, k = data.shape
    if n < 2:
        return Icc(n, k, None, None, None, None, f"only {n} seconds rated by every rater (need 2)")
    grand = data.mean()
    ss_rows = k * float(np.sum((data.mean(axis=1) - grand) ** 2))
    ss_cols = n * float(np.sum((data.mean(axis=0) - grand) ** 2))
    ss_err = float(np.sum((data - grand) ** 2)) - ss_rows - ss_cols
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))

    def ratio(num: float, den: float) -> float | None:
        return num / den if den > 0 else None

    result = Icc(
        n=n,
        k=k,
        a1=ratio(msr - mse, msr + (k - 1) * mse + k * (msc - mse) / n),
        c1=ratio(msr - mse, msr + (k - 1) * mse),
        ak=ratio(msr - mse, msr + (msc - mse) / n),
        ck=ratio(msr - mse, msr),
    )
    if result.c1 is None:
        return Icc(n, k, None, None, None, None, "ICC undefined: the seconds do not vary")
    return result
