"""The dials inside the study server: discovery, one runner per dial, one MQTT publisher each,
and every sample stamped by the clock of the rater the dial belongs to.

Each rater has a BrowserClock fed by that rater's own page (microdial.web.player.page_reports);
each dial's runner gets a SeatClock that asks, at every stamp, which rater the dial is assigned
to and answers with that rater's clock. So two raters on two screens are each stamped by their
own page, and a dial that has no rater (or whose rater's page is not rating) is "no-player".
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

from microdial.daemon import Discover, discoverer
from microdial.device.discovery import PortDiscovery
from microdial.device.roles import Assignment, RoleMap
from microdial.device.runner import DialRunner, RunnerOptions
from microdial.device.stamp import DialKey
from microdial.errors import ConfigError
from microdial.players.base import MediaStamp, PlayerClock
from microdial.players.browser import BrowserClock
from microdial.sinks.base import Sink
from microdial.study.state import write_atomically

log = logging.getLogger(__name__)


class StudyRoles(RoleMap):
    """Dial → rater: kept in the study folder so a restarted server gives each dial its rater
    again; a new dial takes the first rater without one (spares rate as `spareN`)."""

    def __init__(self, raters: list[str], path: Path) -> None:
        super().__init__()
        self.raters = raters
        self.path = path
        try:
            self.given: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        except (ValueError, OSError) as err:
            raise ConfigError(f"{path} is damaged ({err}): fix or move it away") from None

    def assign(self, device: str) -> Assignment:
        device = device.upper()
        rater = self.given.get(device)
        if rater is None:
            taken = set(self.given.values())
            free = [name for name in self.raters if name not in taken]
            rater = free[0] if free else f"spare{len(taken) - len(self.raters) + 1}"
            self.given[device] = rater
            write_atomically(self.path, json.dumps(self.given, indent=1))
            log.info("dial %s rates as %s", device, rater)
        return Assignment(rater, None)

    def swap(self, device: str, rater: str) -> dict[str, tuple[str, str]]:
        """What giving `device` to `rater` changes, as device → (old rater, new rater): the dial that had
        `rater` takes `device`'s former rater, so no rater is left with two dials or none."""
        device = device.upper()
        if device not in self.given:
            raise KeyError(device)
        old = self.given[device]
        if old == rater:
            return {}
        changes = {device: (old, rater)}
        for other, given in self.given.items():
            if given == rater:
                changes[other] = (rater, old)
        return changes

    def apply(self, changes: dict[str, tuple[str, str]]) -> None:
        for device, (_, new) in changes.items():
            self.given[device] = new
        write_atomically(self.path, json.dumps(self.given, indent=1))

    @property
    def assignments(self) -> dict[str, Assignment]:
        return {device: Assignment(rater, None) for device, rater in self.given.items()}


class SeatClock(PlayerClock):
    """The player clock of one dial: whichever rater's page the dial is assigned to."""

    name = "study"

    def __init__(self, clocks: dict[str, BrowserClock]) -> None:
        self.clocks = clocks
        self.runner: DialRunner | None = None

    async def run(self) -> None:
        # Nothing to follow: each rater's page feeds that rater's clock through the study server.
        await asyncio.Event().wait()

    def stamp(self, host_monotonic: float) -> MediaStamp:
        role = None if self.runner is None else self.runner.role
        clock = self.clocks.get(role) if role is not None else None
        if clock is None:
            return MediaStamp(None, "no-player", self.name)
        return clock.stamp(host_monotonic)


def seat_discoverer(
    discovery: PortDiscovery,
    session: str,
    roles: StudyRoles,
    make_sink: Callable[[DialKey], Sink],
    clocks: dict[str, BrowserClock],
    options: RunnerOptions,
) -> Discover:
    """The daemon's discoverer, each new dial's stamper given a SeatClock of its own."""
    found = discoverer(discovery, session, roles, make_sink, None, options)

    def discover() -> list[DialRunner]:
        new = found()
        for runner in new:
            seat = SeatClock(clocks)
            seat.runner = runner
            runner.stamper.player = seat
        return new

    return discover
