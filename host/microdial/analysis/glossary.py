"""What the reports' figures mean, in plain words, for the people who cite them."""

from __future__ import annotations

WHICH_P = (
    "Which p to report: the autocorrelation-adjusted one. A dial trace changes slowly, so each second is "
    "much like the one before and the N seconds are far fewer than N independent observations; the "
    "ordinary p treats them as independent and comes out much too small. The adjusted p tests the same r "
    "on the effective N of Pyper & Peterman (1998), the number of independent seconds the two traces' "
    "autocorrelation leaves."
)

NEGATIVE_ICC = (
    "A negative ICC is not an error: it arises when the raters differ from each other more, second by "
    "second, than the seconds differ from each other (the between-seconds variance is smaller than the "
    "error variance). Read it as no agreement, i.e. as 0; the raters' levels or movements disagree."
)

LAG_AT_LIMIT = "at the edge of the search (±{limit} s): the best lag may lie beyond it; analyse again with a larger --max-lag"
LAG_NEGATIVE = "the strongest lagged r is negative: the raters move in opposite directions, no lag is 'best'"

SESSION_GLOSSARY: list[tuple[str, str]] = [
    ("seconds rated", "seconds of the grid with a value (at least min_coverage of the second rated)"),
    ("mean, SD", "the rater's mean and standard deviation (n-1) over the seconds rated"),
    ("Pearson r", "zero-lag correlation of the two raters over the seconds both rated (temporal congruence)"),
    ("p", "the ordinary t-test p of r, which treats the seconds as independent (do not report)"),
    ("effective N", "the number of independent seconds after the traces' autocorrelation (Pyper–Peterman)"),
    ("p, autocorrelation-adjusted", "the p of r on the effective N: the one to report"),
    ("best lag", "the lag (within ±max_lag s) with the highest r; positive: the second rater follows"),
    ("mean difference", "mean of first − second over the seconds both rated (directional discrepancy)"),
    ("SD of the difference", "how much that difference varies from second to second"),
    ("share higher", "share of the seconds both rated in which that rater's value was the higher"),
    ("ICC(A,1), ICC(C,1)", "agreement (A: same values) and consistency (C: same movements) of one rating"),
    ("ICC(A,k), ICC(C,k)", "the same for the mean of the raters (McGraw & Wong, 1996)"),
    ("windowed r", "zero-lag r in sliding windows: when in the session the raters moved together"),
    ("onset", "where the rating falls: the first second more than 10 % of the depth below the pre-level"),
    ("trough", "the lowest second in the rupture's window"),
    ("end", "where the rating recovers (the repair's end), or the session's end when unresolved"),
    ("pre-level", "the level the rating fell from (see the rupture mode)"),
    ("depth", "pre-level − trough value, in scale points"),
    ("repair onset", "where the rating turns upward from the bottom of the rupture"),
    ("time to repair", "repair end − repair onset, seconds"),
    ("size", "value at the repair's end − value at its onset"),
    ("samples, lost", "samples recorded per dial, and those the sequence numbers show were never received"),
    ("share of seconds rated", "seconds rated / seconds of the session"),
]
