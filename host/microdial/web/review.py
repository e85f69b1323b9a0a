"""Review mode of `microdial view`: a recorded session's traces under its video, in the browser.

The session folder is read once into sorted numpy arrays per dial; the page asks for a time
window and gets at most a few thousand points per rater (first/last of the min and max in each
pixel bucket), so a two-hour session at 100 Hz stays a small JSON answer. The video is served
as a file with HTTP range requests, which the browser's player needs to seek. Blinding is the
live view's (microdial.web.base.Access): a role-limited page is only ever sent that role's traces and marks.

The analysis is overlaid: each rater's ruptures and repairs and the clip table, from the session's
analysis.json (`microdial analyze`, with whatever options it was run with) when the folder has one,
else computed at start-up with the default options (microdial.analysis.session.analyse_folder).
Both are on the grid's clock, the same Timeline the traces are placed by, so they line up.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from aiohttp import web

from microdial.analysis.quality import REWATCH_MIN
from microdial.analysis.report import JSON_FILE, load_analysis
from microdial.analysis.session import SessionAnalysis, analyse_folder
from microdial.errors import MicrodialError
from microdial.store.reader import Clock, read_session
from microdial.web.base import NO_STORE, Access, Visitor, add_assets, data_file, listening, page
from microdial.web.history import MARK_KINDS
from microdial.web.live import VIEWER_STATIC, ViewSettings, role_colours, roles_of

# Buckets the page may ask for in one answer; two points each at most.
MAX_BUCKETS = 5000


DEFAULT_BUCKETS = 2000


class ReviewError(MicrodialError):
    """A session folder or video that cannot be reviewed."""


@dataclass
class Trace:
    dial: str
    role: str
    x: npt.NDArray[np.float64]  # sorted within each pass
    v: npt.NDArray[np.float64]  # an imported dial's values may be fractional
    # [start, end) of each pass over the video, in the order watched: a seek back of more than
    # REWATCH_MIN starts the next one.
    passes: list[tuple[int, int]]

    def window(self, x0: float, x1: float, buckets: int) -> dict[str, Any]:
        """downsample() of each pass that reaches into [x0, x1], one after the other, with where
        each begins and ends in the answer: the page draws each as its own line."""
        xs: list[float] = []
        vs: list[float] = []
        bounds: list[tuple[int, int]] = []
        full = True
        for start, end in self.passes:
            if self.x[end - 1] < x0 or self.x[start] > x1:
                continue
            px, pv, pfull = downsample(self.x[start:end], self.v[start:end], x0, x1, buckets)
            bounds.append((len(xs), len(xs) + len(px)))
            xs += px
            vs += pv
            full = full and pfull
        return {"x": xs, "v": vs, "full": full, "passes": bounds}


@dataclass(frozen=True)
class Mark:
    x: float
    dial: str | None
    role: str | None
    kind: str
    detail: str


@dataclass
class Recording:
    """A session folder as the review page plots it."""

    session: str
    clock: Clock
    traces: dict[str, Trace]
    marks: list[Mark]
    # Samples with no media time in a session that otherwise has one: not placeable on the video.
    unplaced: int
    analysis: SessionAnalysis | None = None
    # Where the analysis came from, as the page says it.
    analysis_source: str = ""

    @property
    def x_range(self) -> tuple[float, float]:
        lo = min(float(t.x.min()) for t in self.traces.values())
        hi = max(float(t.x.max()) for t in self.traces.values())
        return lo, hi


def load_recording(session_dir: Path) -> Recording:
    session = read_session(session_dir)
    timeline = session.timeline
    traces: dict[str, Trace] = {}
    unplaced = 0
    for samples in session.dials:
        x = timeline.place(samples.host_time, samples.media_time)
        placed = np.isfinite(x)
        unplaced += int(np.count_nonzero(~placed))
        if not placed.any():
            continue
        # A rater who sought back rated some stretches twice: each pass is kept apart (the page
        # draws the latest on top), and sorted within itself for the window searches.
        x, v = x[placed], samples.value[placed]
        bounds = [0, *(np.flatnonzero(x[1:] < x[:-1] - REWATCH_MIN) + 1).tolist(), x.size]
        passes = list(itertools.pairwise(bounds))
        order = np.concatenate([start + np.argsort(x[start:end], kind="stable") for start, end in passes])
        traces[samples.dial] = Trace(samples.dial, samples.role, x[order], v[order], passes)
    marks: list[Mark] = []
    for event in session.events():
        if event.kind in MARK_KINDS:
            x_mark = timeline.at(event.host_time, event.media_time)
            if x_mark is not None:
                marks.append(Mark(x_mark, event.dial, event.role, event.kind, event.detail))
    return Recording(session.meta.session, timeline.clock, traces, marks, unplaced)


def downsample(
    x: npt.NDArray[np.float64], v: npt.NDArray[np.float64], x0: float, x1: float, buckets: int
) -> tuple[list[float], list[float], bool]:
    """The points of [x0, x1] (plus one either side, so lines reach the edges): all of them when
    they are few, else per bucket the min and max at the bucket's first and last x, in the order
    the trace went. The bool says whether this is full resolution."""
    lo = max(int(np.searchsorted(x, x0, "left")) - 1, 0)
    hi = min(int(np.searchsorted(x, x1, "right")) + 1, len(x))
    xs, vs = x[lo:hi], v[lo:hi]
    if len(xs) <= 2 * buckets or x1 <= x0:
        return _xs(xs), vs.tolist(), True
    which = np.clip(np.floor((xs - x0) / (x1 - x0) * buckets), -1, buckets).astype(np.int64)
    starts = np.flatnonzero(np.diff(which, prepend=which[0] - 1))
    ends = np.append(starts[1:], len(xs)) - 1
    mins = np.minimum.reduceat(vs, starts)
    maxs = np.maximum.reduceat(vs, starts)
    rising = vs[starts] <= vs[ends]
    out_x = np.empty(2 * len(starts))
    out_v = np.empty(2 * len(starts), dtype=v.dtype)
    out_x[0::2], out_x[1::2] = xs[starts], xs[ends]
    out_v[0::2] = np.where(rising, mins, maxs)
    out_v[1::2] = np.where(rising, maxs, mins)
    return _xs(out_x), out_v.tolist(), False


def _xs(x: npt.NDArray[np.float64]) -> list[float]:
    # 0.1 ms is far below a video frame and keeps the JSON short.
    return np.round(x, 4).tolist()  # type: ignore[no-any-return]


class ReviewServer:
    def __init__(self, recording: Recording, video: Path, access: Access) -> None:
        self.recording = recording
        self.video = video
        self.access = access

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", page(self.access, VIEWER_STATIC / "review.html"))
        app.router.add_get("/traces", self.traces)
        app.router.add_get("/video", data_file(self.access, self.video))
        add_assets(app, VIEWER_STATIC, ("panel.js", "review.js", "viewer.css"))
        return app

    async def traces(self, request: web.Request) -> web.StreamResponse:
        visitor = self.access.visitor(request)
        recording = self.recording
        lo, hi = recording.x_range
        try:
            x0 = float(request.query.get("x0", lo))
            x1 = float(request.query.get("x1", hi))
            buckets = int(request.query.get("n", DEFAULT_BUCKETS))
        except ValueError:
            raise web.HTTPBadRequest(text="x0, x1 and n must be numbers") from None
        if not (math.isfinite(x0) and math.isfinite(x1)) or not 1 <= buckets <= MAX_BUCKETS:
            raise web.HTTPBadRequest(text=f"x0 and x1 must be finite and n within 1..{MAX_BUCKETS}")
        answer: list[dict[str, Any]] = [
            {"dial": trace.dial, "role": trace.role} | trace.window(x0, x1, buckets)
            for trace in recording.traces.values()
            if visitor.sees(trace.role)
        ]
        shown = [t.role for t in recording.traces.values() if visitor.sees(t.role)]
        return web.json_response(
            {
                "session": recording.session,
                "colours": role_colours(shown),
                "analysis": analysis_for(recording, visitor),
                "clock": recording.clock,
                "roles": roles_of(visitor),
                "range": [lo, hi],
                "window": [x0, x1],
                "unplaced": recording.unplaced,
                "traces": answer,
                "marks": [
                    {"x": m.x, "dial": m.dial, "role": m.role, "kind": m.kind, "detail": m.detail}
                    for m in recording.marks
                    if visitor.sees(m.role)
                ],
            },
            headers=NO_STORE,
        )


def open_review(session_dir: Path, video: Path) -> Recording:
    """The recording and its analysis, once the video is known to be there (checked first: it
    is the cheap one)."""
    if not video.is_file():
        raise ReviewError(f"video {video} does not exist: give the recording's video file with --video")
    recording = load_recording(session_dir)
    saved = session_dir / JSON_FILE
    if saved.is_file():
        recording.analysis, recording.analysis_source = load_analysis(saved), f"from {saved}"
    else:
        try:
            recording.analysis = analyse_folder(session_dir)[1]
            recording.analysis_source = "computed with the default options (no analysis.json in the folder)"
        except MicrodialError as err:
            # The traces are still worth seeing; the page says why there is no overlay.
            recording.analysis_source = f"no analysis: {err}"
    return recording


def analysis_for(recording: Recording, visitor: Visitor) -> dict[str, Any]:
    """The ruptures, repairs and clips of the raters the visitor sees."""
    analysis = recording.analysis
    if analysis is None:
        return {"source": recording.analysis_source, "ruptures": [], "clips": []}
    raters = [r for r in analysis.raters if visitor.sees(r.role)]
    role_of = {r.rater: r.role for r in raters}
    return {
        "source": recording.analysis_source,
        "ruptures": [
            {"rater": r.rater, "role": r.role, "dial": r.dial} | rupture.model_dump()
            for r in raters
            for rupture in r.ruptures
        ],
        "clips": [c.model_dump() | {"role": role_of[c.rater]} for c in analysis.clips if c.rater in role_of],
    }


async def serve_review(
    settings: ViewSettings,
    recording: Recording,
    video: Path,
    *,
    bound: asyncio.Future[int] | None = None,
) -> None:
    """Serve the review page until cancelled; `bound` gets the TCP port once listening."""
    access = settings.access()
    server = ReviewServer(recording, video, access)
    title = f"review of {recording.session}"
    async with listening(server.app(), settings.bind, settings.port, access, title=title) as port:
        if bound is not None:
            bound.set_result(port)
        await asyncio.Event().wait()
