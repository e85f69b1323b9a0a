"""VLC over its HTTP interface (`vlc --intf http --http-password X`; requests/status.json).

status.json has `time` in whole seconds (floored), `length` in whole seconds and `position` as a
0..1 float that VLC's input thread refreshes only about every 250 ms. Frame-level accuracy anyway:

* poll often (every 20 ms, one kept-alive connection) and take the instants at which `position`
  changes: at that instant the fresh value is the playhead (± half a poll interval);
* the media time there is position × the real duration; the duration is pinned down from `length`
  (whole seconds) and every (time, position) pair, since floor(position × duration) must equal `time`;
* the anchor is the least-squares fit (slope = rate) through the change points since the last
  seek, pause or rate change, which averages the polling jitter away;
* VLC does not refresh `position` when it pauses: the value it then reports stays up to ~0.5 s
  behind the frame on screen for the whole pause. So a pause is anchored where the fitted line
  was when the state changed, and a paused report is taken only when it changes (a seek).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from microdial.players.base import JUMP_TOLERANCE, AnchoredClock, LineFit, PlayerGone

POLL_INTERVAL = 0.02


def parse_vlc_url(where: str) -> dict[str, Any]:
    """`http://[:PASSWORD@]HOST:PORT` → VlcClock options."""
    parts = urlsplit(where)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError("vlc needs http://HOST:PORT of VLC's HTTP interface")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{where!r} has a bad port") from None
    if port is None:
        raise ValueError("vlc needs the port given to vlc --http-port")
    options: dict[str, Any] = {"url": f"http://{parts.hostname}:{port}"}
    if parts.password:
        options["password"] = parts.password
    return options


class Duration:
    """The real duration from whole-second `length` and (floored `time`, `position`) pairs."""

    def __init__(self, length: int) -> None:
        self.reported = length
        # Whether VLC rounds or floors `length` depends on the version: allow both.
        self.low = length - 0.5
        self.high = length + 1.0

    def update(self, whole_seconds: int, position: float) -> None:
        if position <= 0:
            return
        low = max(self.low, whole_seconds / position)
        high = min(self.high, (whole_seconds + 1) / position)
        # Inconsistent pairs (a value read across an update) would empty the interval: skip them.
        if low < high:
            self.low, self.high = low, high

    @property
    def value(self) -> float:
        """The reported length until the pairs rule it out, then the nearest duration they allow."""
        return min(max(float(self.reported), self.low), self.high)


class VlcClock(AnchoredClock):
    name = "vlc"
    # No seek events over HTTP: a jump is how a seek shows.
    jump_cause = "seek"

    def __init__(
        self,
        url: str = "http://127.0.0.1:8080",
        password: str = "",
        now: Callable[[], float] = time.monotonic,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        super().__init__(now)
        self.url = url.rstrip("/")
        self.password = password
        self.poll_interval = poll_interval
        self._points = LineFit()
        self._duration: Duration | None = None
        self._last_position: float | None = None
        self._last_sampled: float | None = None

    async def _follow(self) -> None:
        # VLC's HTTP interface has no user name, only the password.
        headers = {"Authorization": aiohttp.encode_basic_auth("", self.password)}
        timeout = aiohttp.ClientTimeout(total=2.0)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
            self._reset()
            first = True
            while True:
                before = self.now()
                try:
                    async with session.get(f"{self.url}/requests/status.json") as response:
                        if response.status == 401:
                            raise PlayerGone(f"VLC at {self.url} refused the password")
                        response.raise_for_status()
                        status = await response.json(content_type=None)
                except (aiohttp.ClientError, TimeoutError, ValueError) as err:
                    raise PlayerGone(f"VLC at {self.url}: {err}") from None
                after = self.now()
                self.queries += 1
                if first:
                    self._on_online()
                    first = False
                if isinstance(status, dict):
                    self._status(status, (before + after) / 2)
                await asyncio.sleep(max(0.0, self.poll_interval - (self.now() - before)))

    def _reset(self) -> None:
        self._points.clear()
        self._duration = None
        self._last_position = None
        self._last_sampled = None

    def _status(self, status: dict[str, Any], sampled: float) -> None:
        state = status.get("state")
        position = status.get("position")
        length = status.get("length")
        whole = status.get("time")
        if (
            state == "stopped"
            or not isinstance(position, int | float)
            or not isinstance(length, int)
            # While a file is opening VLC reports -1 for length and time: no position yet.
            or position < 0
            or length <= 0
        ):
            self._on_position(None, sampled)
            self._last_sampled = sampled
            self._last_position = None
            return
        media = self._media_name(status)
        if self._duration is None or media != self.media or length != self._duration.reported:
            self._duration = Duration(length)
            self._points.clear()
        if isinstance(whole, int):
            self._duration.update(whole, float(position))
        self._on_media(media, self._duration.value)
        rate = status.get("rate")
        if isinstance(rate, int | float) and rate > 0 and rate != self.rate:
            self._points.clear()
            self._on_rate(float(rate), sampled)
        # A change seen at this poll happened somewhere since the previous one.
        changed = sampled if self._last_sampled is None else (self._last_sampled + sampled) / 2
        playing = state == "playing"
        if playing != self.playing:
            self._points.clear()
            self._on_playing(playing, changed)
        media_time = float(position) * self._duration.value
        if self.anchor is None or (not playing and position != self._last_position):
            # The first position, or a paused one VLC refreshed (a seek); an unchanged paused one is
            # stale and leaves the anchor set at the pause.
            self._on_position(media_time, sampled)
        elif playing and position != self._last_position and self._last_sampled is not None:
            # VLC refreshed the value somewhere between the previous poll and this one.
            if abs(self.anchor.at(changed) - media_time) > JUMP_TOLERANCE:
                self._points.clear()
            self._points.add(changed, media_time)
            self._on_position(self._points.at(changed, self.rate), changed)
        self._last_position = float(position)
        self._last_sampled = sampled

    @staticmethod
    def _media_name(status: dict[str, Any]) -> str | None:
        # VLC sends [] instead of {} for an empty table, e.g. while a file is still opening.
        information = status.get("information")
        category = information.get("category") if isinstance(information, dict) else None
        meta = category.get("meta") if isinstance(category, dict) else None
        name = (meta.get("filename") or meta.get("title")) if isinstance(meta, dict) else None
        return str(name) if name else None
