"""A live status block per dial in the terminal: rate, value, losses, clock-sync uncertainty."""

from __future__ import annotations

import asyncio
import time
from typing import TextIO

from microdial.device.runner import DialRunner


def describe(runner: DialRunner, rate: float) -> str:
    key = runner.key
    if runner.waiting is not None:
        return f"{(key.role if key else '?'):<10} {(key.dial if key else '(waiting)'):<16} {runner.waiting}"
    counters = runner.counters()
    sync = runner.clock.state()
    value = "   —" if runner.last_value is None else f"{runner.last_value:+4d}"
    uncertainty = "sync   —  " if sync is None else f"sync ±{sync.uncertainty * 1000:4.2f} ms"
    lost = counters.lost_samples + counters.queue_dropped + counters.device_dropped_records
    return (
        f"{(key.role if key else '?'):<10} {(key.dial if key else '(waiting)'):<16} {runner.state:<9} "
        f"{value}  {rate:6.1f}/s  lost {lost:<5d} bad {counters.bad_records:<4d} queued {counters.queued:<6d} "
        f"{uncertainty}"
    )


class StatusLine:
    """Redraws one line per dial in place, once a second."""

    def __init__(
        self, runners: list[DialRunner], out: TextIO, interval: float = 1.0, idle: str | None = None
    ) -> None:
        self._runners = runners
        self._out = out
        self._interval = interval
        # The line while there is no dial at all (a --port glob that matches nothing).
        self._idle = idle

    async def run(self) -> None:
        previous: dict[int, tuple[float, int]] = {}
        drawn = 0
        while True:
            await asyncio.sleep(self._interval)
            now = time.monotonic()
            lines = []
            for runner in list(self._runners):
                count = runner.decoder.samples
                then, before = previous.get(id(runner), (now - self._interval, count))
                previous[id(runner)] = (now, count)
                lines.append(describe(runner, (count - before) / max(now - then, 1e-9)))
            if not lines and self._idle is not None:
                lines.append(self._idle)
            # Move back over the previous block and overwrite it.
            prefix = f"\x1b[{drawn}F" if drawn else ""
            self._out.write(prefix + "".join(f"\x1b[2K{line}\n" for line in lines))
            self._out.flush()
            drawn = len(lines)
