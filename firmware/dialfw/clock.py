"""The device clock: microseconds since the firmware started, monotonic and unwrapped.

time.monotonic_ns() where the board has long ints; otherwise supervisor.ticks_ms(), which
wraps at 2**29 ms (first ~65 s after power-on), extended across wraps here. The sources are
constructor arguments so the simulator can add offset and drift and tests can cross the wrap.
"""

import time

TICKS_PERIOD = 1 << 29
TICKS_MASK = TICKS_PERIOD - 1


def _default_ticks():
    import supervisor

    return supervisor.ticks_ms


class Clock:
    """now_us() counts from origin (default: the first reading), in the source's own units.

    ns_source returns nanoseconds; ticks_source returns supervisor.ticks_ms-style wrapping
    milliseconds. With neither, the board's best source is used. ticks_source is also what
    keypad event timestamps are measured in, so the ns clock keeps one to convert them.
    """

    def __init__(self, ns_source=None, ticks_source=None, origin=None):
        if ns_source is None and ticks_source is None:
            ns_source = getattr(time, "monotonic_ns", None)
        self._ticks = ticks_source
        self._ns = ns_source
        if ns_source is not None:
            self.source = "monotonic_ns"
            first = ns_source()
            self._origin_ns = first if origin is None else origin
        else:
            self.source = "ticks_ms"
            first = self._ticks_source()()
            self._last_ticks = first
            # The extended count starts at the first raw reading so origin can be given in raw ticks.
            self._ms = first
            self._origin_ms = first if origin is None else origin

    def _ticks_source(self):
        if self._ticks is None:
            self._ticks = _default_ticks()
        return self._ticks

    def now_us(self):
        if self._ns is not None:
            return (self._ns() - self._origin_ns) // 1000
        return self._extended_ms() * 1000

    def _extended_ms(self):
        raw = self._ticks()
        self._ms += (raw - self._last_ticks) & TICKS_MASK
        self._last_ticks = raw
        return self._ms - self._origin_ms

    def from_ticks(self, timestamp):
        """Device microseconds of a past supervisor.ticks_ms timestamp (e.g. a keypad event's)."""
        now = self.now_us()
        age_ms = (self._ticks_source()() - timestamp) & TICKS_MASK
        if age_ms > TICKS_PERIOD // 2:
            # "Older than 3 days" is really a stamp a hair ahead of this clock's reading.
            age_ms -= TICKS_PERIOD
        return now - age_ms * 1000
