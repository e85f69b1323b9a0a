"""The session figure: every rater's trace, ruptures and repairs shaded, neutral line and scale labels."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, MultipleLocator

from microdial.analysis.colours import colours
from microdial.analysis.grid import AnalysisError, Grid
from microdial.analysis.session import SessionAnalysis

TICK_STEPS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600)


def _clock(seconds: float, _pos: object = None) -> str:
    whole = int(seconds)
    return (
        f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
        if whole >= 3600
        else f"{whole // 60}:{whole % 60:02d}"
    )


def _tick_step(seconds: int) -> int:
    return next((step for step in TICK_STEPS if seconds / step <= 12), TICK_STEPS[-1])


def draw(grid: Grid, analysis: SessionAnalysis, png: Path, svg: Path) -> None:
    """Traces on top; the windowed r of each pair; one lane per rater: ruptures solid, repairs hatched."""
    lanes = max(1, len(analysis.raters))
    fig, (ax, sync_ax, lane_ax) = plt.subplots(
        3, 1, sharex=True, figsize=(12, 5.8 + 0.3 * lanes), dpi=110,
        gridspec_kw={"height_ratios": [5, 1.3, 0.45 * lanes + 0.3], "hspace": 0.08},
    )  # fmt: skip
    try:
        for j, pair in enumerate(analysis.pairs):
            r = [np.nan if v is None else v for v in pair.synchrony.r]
            sync_ax.plot(
                pair.synchrony.centre,
                r,
                color=f"{0.15 + 0.2 * (j % 4):.2f}",
                lw=1,
                label=f"{pair.first}–{pair.second}",
            )
        sync_ax.axhline(0, color="0.6", lw=0.6)
        sync_ax.set_ylim(-1.05, 1.05)
        sync_ax.set_yticks([-1, 0, 1])
        sync_ax.set_ylabel("windowed r", fontsize=8)
        if analysis.pairs:
            sync_ax.legend(loc="lower right", frameon=False, fontsize=7, ncol=len(analysis.pairs))
        else:
            sync_ax.text(
                0.5, 0.5, "one rater: no synchrony", transform=sync_ax.transAxes, ha="center", va="center"
            )
        sync_ax.grid(axis="x", color="0.9")
        seconds = grid.seconds + 0.5
        palette = colours([r.role for r in analysis.raters])
        for i, rater in enumerate(analysis.raters):
            colour = palette[rater.role]
            # Two dials of one role share its colour; the second is dashed.
            same_role = [r.rater for r in analysis.raters if r.role == rater.role]
            style = "-" if same_role.index(rater.rater) == 0 else "--"
            ax.plot(seconds, grid.rater(rater.rater).value, color=colour, lw=1.1, ls=style, label=rater.rater)
            lane = lanes - 1 - i
            for rupture in rater.ruptures:
                ax.axvspan(rupture.onset, rupture.end, color=colour, alpha=0.12, lw=0)
                ax.annotate(
                    f"R{rupture.number}",
                    (rupture.trough + 0.5, rupture.trough_value),
                    xytext=(0, -13),
                    textcoords="offset points",
                    ha="center",
                    fontsize=8,
                    color=colour,
                )
                low_until = rupture.end if rupture.repair is None else rupture.repair.onset
                lane_ax.broken_barh(
                    [(rupture.onset, max(1, low_until - rupture.onset))], (lane + 0.15, 0.7), color=colour
                )
                if rupture.repair is not None:
                    repair = rupture.repair
                    lane_ax.broken_barh(
                        [(repair.onset, repair.end + 1 - repair.onset)],
                        (lane + 0.15, 0.7),
                        facecolor="white",
                        edgecolor=colour,
                        hatch="////",
                    )
        ax.axhline(0, color="0.35", lw=0.8, ls="--")
        low, high = analysis.scale_min, analysis.scale_max
        ax.set_ylim(low - 4, high + 4)
        ticks = sorted(set(grid.scale_labels) | {low, high})
        ax.set_yticks(ticks)
        ax.set_yticklabels([f"{grid.scale_labels.get(t, '')} ({t:+d})".replace("(+0)", "(0)") for t in ticks])
        ax.set_ylabel(analysis.construct_name, fontsize=11)
        ax.set_title(f"Session {analysis.session}: ruptures shaded; lanes: ruptures solid, repairs hatched")
        ax.grid(axis="x", color="0.9")
        if analysis.raters:
            ax.legend(loc="upper right", frameon=False, ncol=len(analysis.raters))
        lane_ax.set_ylim(0, lanes)
        lane_ax.set_yticks([lanes - 1 - i + 0.5 for i in range(len(analysis.raters))])
        lane_ax.set_yticklabels([r.rater for r in analysis.raters])
        lane_ax.set_xlim(0, max(1, analysis.seconds))
        lane_ax.xaxis.set_major_locator(MultipleLocator(_tick_step(analysis.seconds)))
        lane_ax.xaxis.set_major_formatter(FuncFormatter(_clock))
        lane_ax.grid(axis="x", color="0.9")
        lane_ax.set_xlabel(
            "video time" if analysis.clock == "media" else "time since the session's first sample"
        )
        fig.subplots_adjust(left=0.16, right=0.98, top=0.93, bottom=0.1)
        try:
            fig.savefig(png, bbox_inches="tight")
            fig.savefig(svg, bbox_inches="tight")
        except OSError as err:
            raise AnalysisError(f"cannot write the figure to {png.parent}: {err}") from None
    finally:
        plt.close(fig)
