"""The built-in browser player's clock: an HTML5 video page that reports every presented frame.

The page, its video and its WebSockets are served by microdial.web.player; this module turns what
the page reports into the player clock. Each frame is placed at the host instant it was shown:
ping round trips map the page's performance.now() onto host monotonic time (minimum round trip
of the last probes, as LSL does).

So `microdial daemon --player browser:8765 --video FILE` runs the server inside the daemon, and
`microdial player FILE --port 8765` runs it on its own while the daemon's `--player browser:8765`
follows it over /ws/clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from microdial.players.base import Anchor, AnchoredClock, LineFit, MediaStamp, PlayerGone
from microdial.web.player import PROBES_KEPT, PlayerServer, clock_states

DEFAULT_PORT = 8765
# Frames land on display refreshes (±8 ms at 60 Hz); a frame further off the fitted line than this
# means playback stalled or skipped without telling, so the fit starts again from it.
REFIT_TOLERANCE = 0.03
# Recent displayed frames (host display instant, mediaTime): enough to span a few display gaps.
FRAMES_KEPT = 8
# Frame display instants are refresh instants to within the page clock's jitter.
REFRESH_TOLERANCE = 0.001
# Frames predicted past the latest report before the stamp falls back to the fitted line.
FRAMES_PREDICTED = 2
# The page reports most frames before they are displayed, the rest within ~11 ms after; a report
# later than this means chromium is still showing the previous frame (a stall it did not announce).
REPORT_GRACE = 0.015

FrameObserver = Callable[[float, float, float | None], None]


class PageClock:
    """performance.now() of one page → host monotonic seconds, from ping round trips."""

    def __init__(self) -> None:
        self.probes: deque[tuple[float, float]] = deque(maxlen=PROBES_KEPT)

    def add(self, sent: float, page_ms: float, received: float) -> None:
        rtt = received - sent
        self.probes.append((rtt, (sent + received) / 2 - page_ms / 1000))

    @property
    def offset(self) -> float | None:
        return min(self.probes)[1] if self.probes else None

    @property
    def rtt(self) -> float | None:
        return min(self.probes)[0] if self.probes else None

    def host(self, page_ms: float, fallback: float) -> float:
        offset = self.offset
        return fallback if offset is None else page_ms / 1000 + offset


class BrowserClock(AnchoredClock):
    name = "browser"

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        video: Path | None = None,
        bind: str = "127.0.0.1",
        now: Callable[[], float] = time.monotonic,
        on_frame: FrameObserver | None = None,
        token: str | None = None,
    ) -> None:
        super().__init__(now)
        self.port = port
        self.video = None if video is None else Path(video)
        self.bind = bind
        self.token = token
        self.on_frame = on_frame
        self.page_clock = PageClock()
        self._fit = LineFit()
        self._frames: deque[tuple[float, float]] = deque(maxlen=FRAMES_KEPT)
        self._server: PlayerServer | None = None
        self.serving = asyncio.Event()

    # -- the two modes -----------------------------------------------------------------------------
    async def _follow(self) -> None:
        if self.video is None:
            await self._mirror()
        else:
            await self._serve(self.video)

    async def _serve(self, video: Path) -> None:
        if not await asyncio.to_thread(video.is_file):
            raise PlayerGone(f"video {video} does not exist")
        self._server = PlayerServer(self, video, self.now, self.token)
        try:
            await self._server.serve(self.bind, self.port, self.serving)
        finally:
            self._server = None

    async def _mirror(self) -> None:
        """Follow a `microdial player` process's clock over /ws/clock."""
        try:
            epoch: int | None = None
            async for state in clock_states(self.port):
                self.reports += 1
                epoch = self._mirror_state(state, epoch)
        except (ValueError, KeyError, TypeError) as err:
            raise PlayerGone(f"port {self.port} is not a microdial browser player: {err!r}") from None
        raise PlayerGone("the browser player closed")

    def _mirror_state(self, state: dict[str, Any], epoch: int | None) -> int:
        if state["online"] and not self.online:
            self._on_online()
        elif not state["online"] and self.online:
            self._on_offline()
        anchor = state["anchor"]
        self.anchor = None if anchor is None else Anchor(*anchor)
        if self.anchor is not None:
            self.rate, self.playing = self.anchor.rate, self.anchor.playing
        self.seeking = bool(state["seeking"])
        self.media, self.duration = state["media"], state["duration"]
        self._frames = deque(((float(host), float(media)) for host, media in state["frames"]), FRAMES_KEPT)
        if epoch is not None and state["epoch"] != epoch:
            self._flag()
        self._changed()
        return int(state["epoch"])

    # -- what the page tells (microdial.web.player.PageListener) -----------------------------------
    def clock_state(self) -> dict[str, Any]:
        anchor = self.anchor
        return {
            "online": self.online,
            "anchor": None if anchor is None else [anchor.host, anchor.media, anchor.rate, anchor.playing],
            "seeking": self.seeking,
            "media": self.media,
            "duration": self.duration,
            "epoch": self.epoch,
            "frames": list(self._frames),
        }

    def _changed(self) -> None:
        super()._changed()
        if self._server is not None:
            self._server.publish()

    def page_opened(self) -> None:
        self.page_clock = PageClock()
        self._restart()
        self.playing = False
        self._on_online()

    def page_closed(self) -> None:
        self._on_offline()

    def page_probe(self, sent: float, page_ms: float, received: float) -> None:
        self.page_clock.add(sent, page_ms, received)

    def page_report(self, message: dict[str, Any], arrived: float) -> None:
        kind = message["type"]
        host = self.page_clock.host(float(message["at"]), arrived)
        media = float(message["media"])
        if kind == "frame":
            self._frame(host, media)
            return
        self._restart()
        if kind == "media":
            duration = message.get("duration")
            self._on_media(str(self.video), float(duration) if duration else None)
            self._on_position(media, host)
        elif kind == "ratechange":
            self._on_rate(float(message["rate"]), host)
            self._on_position(media, host)
        elif kind in ("playing", "pause", "waiting", "ended"):
            self._on_playing(kind == "playing", host)
            self._on_position(media, host)
        elif kind == "seeking":
            self._on_seeking(True)
        elif kind == "seeked":
            self._on_position(media, host)
            self._on_seeking(False)

    def _frame(self, host: float, media: float) -> None:
        predicted = None if self.anchor is None else self.anchor.at(host)
        if self.on_frame is not None:
            self.on_frame(host, media, predicted)
        if not self.playing or self.seeking:
            return
        if predicted is not None and abs(predicted - media) > REFIT_TOLERANCE:
            self._restart()
        self._fit.add(host, media)
        self._frames.append((host, media))
        self._on_position(self._fit.at(host, self.rate), host)

    def _restart(self) -> None:
        """A new stretch of playback: neither the line nor the frames of the last one apply."""
        self._fit.clear()
        self._frames.clear()

    # -- stamps ------------------------------------------------------------------------------------
    def stamp(self, host_monotonic: float) -> MediaStamp:
        stamp = super().stamp(host_monotonic)
        if stamp.playback != "playing":
            return stamp
        shown = self._shown(host_monotonic)
        return stamp if shown is None else dataclasses.replace(stamp, media_time=shown)

    def _shown(self, host: float) -> float | None:
        """mediaTime of the frame on screen at host, or None where the fitted line is the better guess.

        A reported frame is on screen from its display instant until the next reported one. Past
        the latest report, the next frame's report may still be on its way (the page sends some
        only after the frame is up): frames land on display refreshes, each on the refresh
        nearest to where the fitted line puts its mediaTime, so the next few are predicted that way,
        unless a predicted frame's report is overdue, which means the page is still showing the
        frame before it.
        """
        frames = self._frames
        anchor = self.anchor
        if len(frames) < 2 or anchor is None or not anchor.playing or anchor.rate <= 0:
            return None
        latest, media = frames[-1]
        if latest > host:
            for shown, earlier in reversed(frames):
                if shown <= host:
                    return earlier
            return None
        step = min(later - earlier for (_, earlier), (_, later) in itertools.pairwise(frames))
        refresh = _refresh_period(
            [later - earlier for (earlier, _), (later, _) in itertools.pairwise(frames)]
        )
        if step <= 0 or refresh is None:
            return None
        for _ in range(FRAMES_PREDICTED):
            due = anchor.host + (media + step - anchor.media) / anchor.rate
            shown = latest + max(1, round((due - latest) / refresh)) * refresh
            if shown > host or self.now() - shown > REPORT_GRACE:
                return media
            latest, media = shown, media + step
        return None


def _refresh_period(gaps: list[float]) -> float | None:
    """The display refresh period: the largest period all gaps between frames are multiples of."""
    shortest = min(gaps)
    if shortest <= 0:
        return None
    for divisor in range(1, 5):
        period = shortest / divisor
        if all(abs(gap - round(gap / period) * period) <= REFRESH_TOLERANCE for gap in gaps):
            return period
    return None
