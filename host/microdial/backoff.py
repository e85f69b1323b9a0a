"""Waiting between attempts to reach something that went away: a dial's port, the broker, a player.

One rule everywhere: the first retry comes quickly (a dial re-enumerating, a broker restarting),
later ones back off to a ceiling low enough that a return is noticed within seconds.
"""

from __future__ import annotations

import asyncio

FIRST = 0.2
CEILING = 5.0


class Backoff:
    """Doubles from first to ceiling on each failure; reset() after a success starts again from first."""

    def __init__(self, first: float = FIRST, ceiling: float = CEILING) -> None:
        if not 0 < first <= ceiling:
            raise ValueError(f"backoff needs 0 < first <= ceiling, got {first} and {ceiling}")
        self.first = first
        self.ceiling = ceiling
        self.delay = first

    def reset(self) -> None:
        self.delay = self.first

    def next(self) -> float:
        """The delay to wait now; the one after it is doubled."""
        delay = self.delay
        self.delay = min(delay * 2, self.ceiling)
        return delay

    async def wait(self) -> None:
        await asyncio.sleep(self.next())
