"""The player clock interface: where in the video the rater was at a given host instant.

Every adapter follows the same model: an anchor (host monotonic instant, media time, rate, playing)
set from the player's reports and interpolated in between, so a stamp costs no I/O and can be taken
for any instant, including instants between two reports.

Players misreport for a moment, and the clock follows them rather than extrapolating past them:
an adapter can hold the anchor after a speed change until the player reports moving again (mpv
stops for ~0.2 s while it rebuilds its audio chain), and stamps taken while playing never step
back unless a discontinuity, with its cause, is flagged.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from microdial.backoff import Backoff
from microdial.model import Cause, Playback

log = logging.getLogger(__name__)

# A report further than this from the interpolated position is a jump (a seek we were not told about).
JUMP_TOLERANCE = 0.25
# The least a report must move on from a held anchor to show the player moving again.
MOVING_MIN = 0.01


@dataclass(frozen=True, slots=True)
class MediaStamp:
    media_time: float | None
    playback: Playback
    player: str
    media: str | None = None
    media_duration: float | None = None
    # True on the first stamp after a seek, a rate change or a player (re)connect.
    discontinuity: bool = False
    # Why, when discontinuity is True.
    cause: Cause | None = None


@dataclass(frozen=True, slots=True)
class Anchor:
    host: float
    media: float
    rate: float
    playing: bool
    # Playing, but the player has not moved since: media time stays put until it reports moving.
    held: bool = False

    def at(self, host_monotonic: float) -> float:
        if not self.playing or self.held:
            return self.media
        return max(0.0, self.media + (host_monotonic - self.host) * self.rate)

    def moving(self, host: float, media: float) -> bool:
        """Whether a report at host shows playback moving on from this anchor at about its rate: a
        report computed just before a speed change and delivered after it moves by next to nothing."""
        return self.playing and media - self.media >= max(MOVING_MIN, 0.5 * self.rate * (host - self.host))


class LineFit:
    """Least-squares line of known slope (the rate) through recent (host, media) reports.

    Each report's host instant is only known to within the polling or transport jitter; the mean
    over the last few reports of one continuous stretch of playback averages that away.
    """

    def __init__(self, points: int = 16) -> None:
        self.points: deque[tuple[float, float]] = deque(maxlen=points)

    def clear(self) -> None:
        self.points.clear()

    def add(self, host: float, media: float) -> None:
        self.points.append((host, media))

    def at(self, host: float, rate: float) -> float:
        return sum(media + (host - at) * rate for at, media in self.points) / len(self.points)


class PlayerClock(abc.ABC):
    name: str

    @abc.abstractmethod
    async def run(self) -> None:
        """Connect to the player and follow it, reconnecting forever; ends only when cancelled."""

    @abc.abstractmethod
    def stamp(self, host_monotonic: float) -> MediaStamp:
        """The media position at host_monotonic (time.monotonic() seconds), from the latest anchor."""

    # -- hooks: what the dials and the session commands say. No-ops on purpose (hence noqa B027): a
    # followed player ignores them, a clock that can act on them (FreeRunClock) overrides them.
    def on_button(self, kind: str) -> None:  # noqa: B027
        """A dial's button was pressed (kind as the dial reports it: "mark", ...)."""

    def on_session(self, action: str) -> None:  # noqa: B027
        """The session was started, stopped or marked (a control command's action)."""


class PlayerGone(Exception):
    """The connection to the player ended; run() reconnects."""


class AnchoredClock(PlayerClock):
    """The shared anchor bookkeeping; an adapter implements _follow() and feeds the _on_* methods."""

    # What a report far off the interpolation means: for a player that announces its seeks, the
    # clock re-syncing; for one that does not (VLC's HTTP interface), most likely a seek.
    jump_cause: Cause = "resync"

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self.anchor: Anchor | None = None
        self.online = False
        self.seeking = False
        self.media: str | None = None
        self.duration: float | None = None
        self.rate = 1.0
        self.playing = False
        # Requests sent to the player and position reports received: the benchmark's "how often".
        self.queries = 0
        self.reports = 0
        # The cause of the discontinuity the next stamp flags, None when there is none.
        self._cause: Cause | None = "resync"
        self._cause_guessed = False
        # (host instant, media time, epoch) of the latest stamp while playing: the floor of the next.
        self._floor: tuple[float, float, int] | None = None
        # Bumped with every discontinuity, so a clock mirrored in another process can flag it too.
        self.epoch = 0
        # Set (and replaced) on every state change, for whoever waits for the player to show up.
        self.changed = asyncio.Event()

    # -- what an adapter reports -------------------------------------------------------------------
    def _on_position(self, media_time: float | None, host: float | None = None) -> None:
        """The player says it is at media_time now (or at host)."""
        host = self.now() if host is None else host
        self.reports += 1
        anchor = self.anchor
        if media_time is None:
            self.anchor = None
        else:
            if anchor is not None and abs(anchor.at(host) - media_time) > JUMP_TOLERANCE:
                self._flag(self._jumped(), guessed=True)
            # A held anchor stands at each report until the player shows it is moving again.
            held = anchor is not None and anchor.held and not anchor.moving(host, media_time)
            self.anchor = Anchor(host, media_time, self.rate, self.playing, held)
        self._changed()

    def _jumped(self) -> Cause:
        """Why a report is far off the interpolation."""
        if self.anchor is not None and self.anchor.held:
            # Ending a hold, the jump is the speed change's (mpv skips ahead on a slow-down).
            return "speed"
        if not self.playing:
            # Nothing but a seek moves a paused player.
            return "seek"
        return self.jump_cause

    def _on_playing(self, playing: bool, host: float | None = None) -> None:
        if playing == self.playing:
            return
        self._reanchor(host)
        self.playing = playing
        self._reanchor(host)

    def _on_rate(self, rate: float, host: float | None = None, hold: bool = False) -> None:
        """hold: the player stops for a moment on a speed change; stand still (at each report)
        until its reports move on at about the new rate."""
        if rate == self.rate:
            return
        self._reanchor(host)
        self.rate = rate
        self._reanchor(host, hold)
        self._flag("speed")

    def _on_seeking(self, seeking: bool) -> None:
        self.seeking = seeking
        if seeking:
            self._flag("seek")
        self._changed()

    def _on_media(self, media: str | None, duration: float | None) -> None:
        if media != self.media:
            self._flag("media")
        self.media = media
        self.duration = duration
        self._changed()

    def _on_online(self) -> None:
        self.online = True
        self._flag("resync")
        self._changed()

    def _on_offline(self) -> None:
        self.online = False
        self.anchor = None
        self.seeking = False
        self._flag("resync")
        self._changed()

    def _flag(self, cause: Cause = "resync", guessed: bool = False) -> None:
        """guessed: a cause inferred from a jump, which a cause the player declares replaces (mpv
        can deliver the jump of a slow-down a few ms before the speed change itself)."""
        # Several causes before the next stamp: the first one is why the media time moved.
        if self._cause is None or (self._cause_guessed and not guessed):
            self._cause = cause
            self._cause_guessed = guessed
        self.epoch += 1

    def _reanchor(self, host: float | None, hold: bool | None = None) -> None:
        """A new anchor at host from the interpolation; hold None keeps the current hold."""
        host = self.now() if host is None else host
        if self.anchor is not None:
            held = self.anchor.held if hold is None else hold
            self.anchor = Anchor(host, self.anchor.at(host), self.rate, self.playing, held)
        self._changed()

    def _changed(self) -> None:
        """Called after every state change; the browser server also publishes its state from here."""
        self.changed.set()
        self.changed = asyncio.Event()

    # -- the interface -----------------------------------------------------------------------------
    def stamp(self, host_monotonic: float) -> MediaStamp:
        if not self.online or self.anchor is None:
            return MediaStamp(None, "no-player", self.name, self.media, self.duration, False)
        playback: Playback = "seeking" if self.seeking else "playing" if self.anchor.playing else "paused"
        media_time = self.anchor.at(host_monotonic)
        if self.duration is not None:
            media_time = min(media_time, self.duration)
        cause = None if self.seeking else self._cause
        if cause is not None:
            self._cause = None
        media_time = self._not_back(host_monotonic, media_time, playback)
        return MediaStamp(
            media_time, playback, self.name, self.media, self.duration, cause is not None, cause
        )

    def _not_back(self, host: float, media_time: float, playback: Playback) -> float:
        """While playing, a later stamp is never behind an earlier one of the same epoch: a report
        a little behind the interpolation (a late arrival, a refit) holds the stamps until the line
        catches up; one further off has flagged a discontinuity and bumped the epoch."""
        if playback != "playing":
            self._floor = None
            return media_time
        floor = self._floor
        if floor is not None and floor[2] == self.epoch and host >= floor[0]:
            media_time = max(media_time, floor[1])
        if floor is None or host >= floor[0]:
            self._floor = (host, media_time, self.epoch)
        return media_time

    async def run(self) -> None:
        # A player's return is followed within 2 s: until then every sample goes without media time.
        backoff = Backoff(0.1, 2.0)
        last_error = ""
        while True:
            try:
                await self._follow()
            except (OSError, PlayerGone, asyncio.IncompleteReadError) as err:
                # Once per distinct reason, not once per retry.
                if str(err) != last_error:
                    log.warning("%s: %s; retrying", self.name, err)
                last_error = str(err)
            if self.online:
                backoff.reset()
            self._on_offline()
            await backoff.wait()

    @abc.abstractmethod
    async def _follow(self) -> None:
        """Connect, call _on_online(), feed reports until the player goes away (return or raise)."""
