"""Review mode of `microdial view`: a recorded session's traces under its video, in the browser.

The session folder is read once into sorted numpy arrays per dial; the page asks for a time
window and gets at most a few thousand points per rater (first/last of the min and max in each
pixel bucket), so a two-hour session at 100 Hz stays a small JSON answer. The video is served
as a file with HTTP range requests, which the browser's player needs to seek. Blinding is the
live view's: a role-limited page is only ever sent that role's traces and marks.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from aiohttp import web

from microdial.errors import ConfigError, MicrodialError
from microdial.store.reader import Clock, read_session
from microdial.web.live import STATIC, ViewSettings, check_exposure, request_roles

log = logging.getLogger(__name__)


# Buckets the page may ask for in one answer; two points each at most.
MAX_BUCKETS = 5000


DEFAULT_BUCKETS = 2000


# Daemon event kinds a rater makes on purpose (a button press): drawn as marks.
MARK_KINDS = frozenset({"button"})


class ReviewError(MicrodialError):
    """A session folder or video that cannot be reviewed."""


@dataclass
class Trace:
    dial: str
    role: str
    x: npt.NDArray[np.float64]  # sorted
    v: npt.NDArray[np.int16]


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

    @property
    def x_range(self) -> tuple[float, float]:
        lo = min(float(t.x[0]) for t in self.traces.values())
        hi = max(float(t.x[-1]) for t in self.traces.values())
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
        # A rater who sought back rated some stretches twice: sorted, both passes share the
        # buckets and the min/max envelope shows their spread.
        x, v = x[placed], samples.value[placed].astype(np.int16)
        order = np.argsort(x, kind="stable")
        traces[samples.dial] = Trace(samples.dial, samples.role, x[order], v[order])
    marks: list[Mark] = []
    for event in session.events():
        if event.kind in MARK_KINDS:
            x_mark = timeline.at(event.host_time, event.media_time)
            if x_mark is not None:
                marks.append(Mark(x_mark, event.dial, event.role, event.kind, event.detail))
    return Recording(session.meta.session, timeline.clock, traces, marks, unplaced)


def downsample(
    x: npt.NDArray[np.float64], v: npt.NDArray[np.int16], x0: float, x1: float, buckets: int
) -> tuple[list[float], list[int], bool]:
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
    out_v = np.empty(2 * len(starts), dtype=np.int16)
    out_x[0::2], out_x[1::2] = xs[starts], xs[ends]
    out_v[0::2] = np.where(rising, mins, maxs)
    out_v[1::2] = np.where(rising, maxs, mins)
    return _xs(out_x), out_v.tolist(), False


def _xs(x: npt.NDArray[np.float64]) -> list[float]:
    # 0.1 ms is far below a video frame and keeps the JSON short.
    return np.round(x, 4).tolist()  # type: ignore[no-any-return]


class ReviewServer:
    def __init__(self, settings: ViewSettings, recording: Recording, video: Path) -> None:
        self.settings = settings
        self.recording = recording
        self.video = video

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.index)
        app.router.add_get("/traces", self.traces)
        app.router.add_get("/video", self.serve_video)
        app.router.add_get("/panel.js", self.asset)
        app.router.add_get("/review.js", self.asset)
        app.router.add_get("/viewer.css", self.asset)
        return app

    def roles(self, request: web.Request) -> frozenset[str] | None:
        return request_roles(request, self.settings.token, self.settings.role_tokens)

    async def index(self, request: web.Request) -> web.StreamResponse:
        self.roles(request)
        return web.FileResponse(STATIC / "review.html", headers=_NO_STORE)

    async def asset(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / request.path.lstrip("/"), headers=_NO_STORE)

    async def serve_video(self, request: web.Request) -> web.StreamResponse:
        self.roles(request)
        # FileResponse answers Range requests (206), which the <video> element needs to seek.
        return web.FileResponse(self.video)

    async def traces(self, request: web.Request) -> web.StreamResponse:
        roles = self.roles(request)
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
        shown = [t for t in recording.traces.values() if roles is None or t.role in roles]
        answer: list[dict[str, Any]] = []
        for trace in shown:
            xs, vs, full = downsample(trace.x, trace.v, x0, x1, buckets)
            answer.append({"dial": trace.dial, "role": trace.role, "x": xs, "v": vs, "full": full})
        return web.json_response(
            {
                "session": recording.session,
                "clock": recording.clock,
                "roles": sorted(roles) if roles is not None else None,
                "range": [lo, hi],
                "window": [x0, x1],
                "unplaced": recording.unplaced,
                "traces": answer,
                "marks": [
                    {"x": m.x, "dial": m.dial, "role": m.role, "kind": m.kind, "detail": m.detail}
                    for m in recording.marks
                    if roles is None or m.role in roles
                ],
            },
            headers=_NO_STORE,
        )


_NO_STORE = {"Cache-Control": "no-store"}


def open_review(session_dir: Path, video: Path) -> Recording:
    """The recording, once the video is known to be there (checked first: it is the cheap one)."""
    if not video.is_file():
        raise ReviewError(f"video {video} does not exist: give the recording's video file with --video")
    return load_recording(session_dir)


async def serve_review(
    settings: ViewSettings,
    recording: Recording,
    video: Path,
    *,
    bound: asyncio.Future[int] | None = None,
) -> None:
    """Serve the review page until cancelled; `bound` gets the TCP port once listening."""
    check_exposure(settings)
    runner = web.AppRunner(ReviewServer(settings, recording, video).app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.bind, settings.port)
        try:
            await site.start()
        except OSError as err:
            raise ConfigError(f"cannot listen on {settings.bind}:{settings.port}: {err.strerror}") from None
        port = runner.addresses[0][1]
        log.info("review of %s on http://%s:%d/", recording.session, settings.bind, port)
        if bound is not None:
            bound.set_result(port)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
