"""A session clock for when no player can be followed: media_time is seconds of rating time.

The dial's button can drive it (`on_button("mark")` toggles pause and resume), so a rater watching on
any screen can keep the session clock in step with what they watch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from microdial.players.base import AnchoredClock


class FreeRunClock(AnchoredClock):
    name = "free"

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        super().__init__(now)
        self.media = "session"

    def ready(self) -> None:
        """Session time 0, paused: the first mark (or resume()) starts it."""
        self._on_online()
        self.playing = False
        self._on_position(0.0)

    def start(self) -> None:
        """Session time 0 is now, running."""
        self._on_online()
        self.playing = True
        self._on_position(0.0)

    def pause(self) -> None:
        if self.anchor is not None:
            self._on_playing(False)

    def resume(self) -> None:
        if self.anchor is None:
            self.start()
        else:
            self._on_playing(True)

    def stop(self) -> None:
        """Stamps say no-player until start() again."""
        self._on_offline()
        self.playing = False

    def on_button(self, kind: str) -> None:
        if kind != "mark":
            return
        if self.anchor is not None and self.anchor.playing:
            self.pause()
        else:
            self.resume()

    def on_session(self, action: str) -> None:
        if action == "start":
            self.start()
        elif action == "stop":
            self.stop()

    async def _follow(self) -> None:
        if self.anchor is None:
            self.ready()
        # Nothing to follow: the clock only moves on start/pause/resume/stop and button marks.
        await asyncio.Event().wait()
