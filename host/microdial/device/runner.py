"""One dial kept alive across faults: open its transport, converse until it goes away, wait, open again.

The conversation itself (records, identity, clock sync, resets, status) is device/session.py; this
module is only the loop around it, waiting per microdial.backoff while the dial is away.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from microdial.backoff import Backoff
from microdial.device.roles import RoleMap
from microdial.device.session import DialSession, SessionOptions
from microdial.device.stamp import DialKey
from microdial.device.transports.base import Transport
from microdial.errors import TransportError
from microdial.players.base import PlayerClock
from microdial.sinks.base import Sink

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunnerOptions(SessionOptions):
    # A dial re-enumerating after a replug is back within a second or two: look again at least that often.
    reopen_min: float = 0.2
    reopen_max: float = 2.0
    # A port that cannot be opened is said at the default level when it starts and again this often
    # while it lasts: a daemon waiting silently for a wrong --port looks like one that works.
    warn_interval: float = 30.0


class DialRunner(DialSession):
    """Runs one dial until cancelled: a DialSession that reconnects."""

    def __init__(
        self,
        open_transport: Callable[[], Transport],
        session: str,
        roles: str | RoleMap,
        make_sink: Callable[[DialKey], Sink],
        player: PlayerClock | None = None,
        options: RunnerOptions | None = None,
    ) -> None:
        options = options or RunnerOptions()
        super().__init__(session, roles, make_sink, player, options)
        self._open_transport = open_transport
        self._backoff = Backoff(options.reopen_min, options.reopen_max)
        self._warn_interval = options.warn_interval
        # Why the port is not open now (for the status line), and when that was last logged.
        self.waiting: str | None = None
        self._warned = -float("inf")

    async def run(self) -> None:
        try:
            while True:
                transport = self._open_transport()
                try:
                    await self.connect(transport)
                except TransportError as err:
                    self._cannot_open(str(err))
                    await self._backoff.wait()
                    continue
                if self.waiting is not None:
                    log.info("%s is open now", transport.location)
                self.waiting = None
                self._warned = -float("inf")
                self._backoff.reset()
                await self.serve()
        finally:
            await self._stop_sink()

    def _cannot_open(self, reason: str) -> None:
        now = time.monotonic()
        if reason != self.waiting or now - self._warned >= self._warn_interval:
            log.warning(
                "%s; trying again, said again every %.0f s while it lasts", reason, self._warn_interval
            )
            self._warned = now
        else:
            log.debug("%s", reason)
        self.waiting = reason
