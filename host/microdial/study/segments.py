"""One rater's ruptures and repairs, from the recording: the study's only call into the analysis
(so a change in how `microdial analyze` defines a rupture lands here, in one place)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from microdial.analysis.grid import grid_for
from microdial.analysis.session import AnalyzeOptions, analyse
from microdial.errors import MicrodialError
from microdial.study.protocol import Protocol
from microdial.study.state import Sequence, Span


def find_sequences(session_dir: Path, rater: str, protocol: Protocol, until: float) -> list[Sequence] | None:
    """The rater's sequences as `microdial analyze` finds them (the protocol's rupture definition,
    `sequences` of them, a clip from each onset and one from its repair's onset); None while the
    recording does not yet hold the rating up to `until` video seconds (the recorder trails the
    page by the broker's round trip)."""
    options = AnalyzeOptions(ruptures=protocol.rupture_options(), clip_seconds=protocol.clip_seconds)
    try:
        grid = grid_for(session_dir, options.grid)
    except (MicrodialError, OSError):
        return None
    if rater not in grid.rater_names or grid.clock != "media":
        return None
    series = grid.rater(rater)
    rated = grid.seconds[np.isfinite(series.value)]
    if not rated.size or float(rated.max()) + 2 < until:
        return None
    # This rater only: the pair statistics of a full analysis are not needed here.
    analysis = analyse(dataclasses.replace(grid, raters=[series]), options)
    found: dict[int, Sequence] = {}
    for clip in analysis.clips:
        span = Span(start=clip.start, end=clip.end)
        if clip.kind == "rupture":
            found[clip.number] = Sequence(number=clip.number, rupture=span)
        elif clip.number in found:
            found[clip.number].repair = span
    return [found[number] for number in sorted(found)]
