"""One dial kept alive across faults: open its transport, converse until it goes away, wait, open again.

The conversation itself (records, identity, clock sync, resets, status) is device/session.py; this
module is only the loop around it, waiting per microdial.backoff while the dial is away.
"""

from __future__ import annotations

import logging
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

    async def run(self) -> None:
        try:
            while True:
                transport = self._open_transport()
                try:
                    await self.connect(transport)
                except TransportError as err:
                    log.debug("%s", err)
                    await self._backoff.wait()
                    continue
                self._backoff.reset()
                await self.serve()
        finally:
            await self._stop_sink()
