"""A study's summary: a short report (Markdown) and a figure of congruence and ruptures per dyad."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from microdial.analysis import glossary
from microdial.analysis.colours import OTHER_COLOURS, ROLE_COLOURS
from microdial.analysis.grid import AnalysisError
from microdial.analysis.render import Section, fmt, markdown, write_texts
from microdial.analysis.study import StudyRow

REPORT_FILE = "study.md"
FIGURE_FILE = "study.png"
TITLE = "microdial study"
ALPHA = 0.05

COLUMNS: list[tuple[str, str]] = [
    (
        "treatment, participant",
        "the dyad's treatment code and the participant (session.json; else the parent folder)",
    ),
    ("session, session_number", "the session code, and its place in the treatment's sessions (1, 2, ...)"),
    ("created, folder", "when the session was recorded, and where its folder is"),
    ("construct_name, clock, seconds", "what was rated, on which clock, for how many seconds"),
    ("n_both", "seconds both raters rated"),
    ("r", "zero-lag Pearson r of the first pair (client vs therapist when present): temporal congruence"),
    ("p_adjusted", "the p of r on the effective N (Pyper–Peterman): the one to report"),
    ("n_eff, p_naive", "the effective N, and the p that takes every second as independent (too small)"),
    ("discrepancy_mean, discrepancy_sd", "mean and SD of first − second per second: directional discrepancy"),
    ("<slot>_rater", "which rater is first_ and second_ (client first, then therapist)"),
    ("<slot>_coverage", "share of the session's seconds the rater rated"),
    ("<slot>_ruptures, <slot>_rupture_depth", "ruptures found in the session, and their mean depth (points)"),
    (
        "<slot>_repaired_share, <slot>_time_to_repair",
        "share of ruptures repaired, and the mean time to repair (s)",
    ),
    ("answers", "answers in the session's study interview (interview.json/.csv), when there was one"),
]


def report(rows: list[StudyRow], settings: str) -> str:
    treatments = sorted({r.treatment for r in rows})
    rs = [r.r for r in rows if r.r is not None]
    significant = sum(r.p_adjusted is not None and r.p_adjusted < ALPHA for r in rows)
    ruptures = [c.ruptures for r in rows for c in r.raters]
    repaired = [c.repaired_share for r in rows for c in r.raters if c.repaired_share is not None]
    coverage = [c.coverage for r in rows for c in r.raters if c.coverage is not None]
    summary = [
        ["sessions", str(len(rows))],
        ["dyads (treatments)", str(len(treatments))],
        ["congruence r: mean (SD), min..max", _spread(rs)],
        [f"sessions with p_adjusted < {ALPHA}", f"{significant} of {len(rs)}"],
        ["ruptures per rater and session: mean", fmt(float(np.mean(ruptures)) if ruptures else None)],
        ["share of ruptures repaired: mean", fmt(float(np.mean(repaired)) if repaired else None)],
        ["coverage: lowest", fmt(min(coverage, default=None), 3)],
    ]
    parts = [
        Section("Study", [f"{len(rows)} sessions of {len(treatments)} dyads; {settings}", glossary.WHICH_P]),
        Section("Summary", header=["measure", "value"], rows=summary),
        Section("Figure", [f"![congruence and ruptures per session]({FIGURE_FILE})"]),
        Section(
            "Columns of study.csv and study.parquet",
            header=["column", "meaning"],
            rows=[list(c) for c in COLUMNS],
        ),
    ]
    return markdown(parts, TITLE)


def _spread(values: list[float]) -> str:
    if not values:
        return "–"
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return f"{fmt(float(np.mean(values)), 3)} ({fmt(sd, 3)}), {fmt(min(values), 3)}..{fmt(max(values), 3)}"


def _slot_name(rows: list[StudyRow], slot: int) -> str:
    """The rater in a slot by name when every session has the same one there (e.g. client)."""
    names = {row.raters[slot].rater for row in rows if len(row.raters) > slot}
    return names.pop() if len(names) == 1 else ("first", "second")[slot] + " rater"


def draw(rows: list[StudyRow], path: Path) -> None:
    """Congruence r per session, one line per dyad; ruptures per session for each rater slot."""
    fig, (r_ax, rupture_ax) = plt.subplots(2, 1, sharex=True, figsize=(10, 6), dpi=110)
    try:
        by_treatment: dict[str, list[StudyRow]] = {}
        for row in rows:
            by_treatment.setdefault(row.treatment, []).append(row)
        for i, (name, sessions) in enumerate(sorted(by_treatment.items())):
            x = [s.session_number for s in sessions]
            y = [np.nan if s.r is None else s.r for s in sessions]
            label = name if len(by_treatment) <= 12 else None
            r_ax.plot(
                x, y, marker="o", lw=1, color=OTHER_COLOURS[i % len(OTHER_COLOURS)], alpha=0.8, label=label
            )
        r_ax.axhline(0, color="0.6", lw=0.6)
        r_ax.set_ylim(-1.05, 1.05)
        r_ax.set_ylabel("congruence r")
        if 0 < len(by_treatment) <= 12:
            r_ax.legend(loc="lower right", frameon=False, fontsize=7, ncol=4)
        for offset, slot, colour in (
            (-0.15, 0, ROLE_COLOURS["client"]),
            (0.15, 1, ROLE_COLOURS["therapist"]),
        ):
            rated = [row for row in rows if len(row.raters) > slot]
            rupture_ax.scatter(
                [row.session_number + offset for row in rated],
                [row.raters[slot].ruptures for row in rated],
                s=12,
                color=colour,
                alpha=0.6,
                label=_slot_name(rows, slot),
            )
        rupture_ax.set_ylabel("ruptures")
        rupture_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        rupture_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        rupture_ax.set_xlabel("session number within the dyad")
        rupture_ax.legend(loc="upper right", frameon=False, fontsize=7)
        fig.tight_layout()
        try:
            fig.savefig(path)
        except OSError as err:
            raise AnalysisError(f"cannot write {path}: {err}") from None
    finally:
        plt.close(fig)


def write_summary(rows: list[StudyRow], out: Path, settings: str) -> list[Path]:
    draw(rows, out / FIGURE_FILE)
    return [out / FIGURE_FILE, *write_texts(out, {REPORT_FILE: report(rows, settings)})]
