"""Each dial as a Lab Streaming Layer outlet, so LabRecorder (or any inlet) records ratings beside
physiology with no extra step.

One outlet per dial: stream type `Rating`, name `microdial-<session>-<role>-<dial>` and source id
`microdial:<session>:<role>:<dial>` (codes only, never a participant's name), three double
channels (value in scale points, media time in seconds or NaN without a player, the dial's
sequence number), and the scale, labels, rate, firmware and session in the stream's <desc>.

Time stamps. Each sample is stamped with its own host time (`host_monotonic`, the clock model's
estimate of when the dial read it) mapped onto LSL's clock, never with the time it is pushed.
pylsl's `local_clock()` is liblsl's `lsl_local_clock()`, which reads
`std::chrono::steady_clock::now().time_since_epoch()` (liblsl src/common.cpp). Python's
`time.monotonic()` is not always that clock:
  * Linux: libstdc++'s steady_clock and CPython's monotonic both read CLOCK_MONOTONIC: the offset
    is 0 (the measurement below finds it within microseconds).
  * macOS: libc++'s steady_clock reads CLOCK_MONOTONIC_RAW (which runs on through sleep), CPython's
    monotonic reads mach_absolute_time (which stops during sleep): an offset that grows with
    every sleep of the machine.
  * Windows: MSVC's steady_clock reads QueryPerformanceCounter; CPython's monotonic reads
    GetTickCount64 before 3.13 (15.6 ms steps, its own origin) and QueryPerformanceCounter from
    3.13 on.
So LslClock measures the offset rather than assuming it: the smallest-window of a few
monotonic/local_clock/monotonic readings, measured again every few seconds to follow a sleep.

Samples go to the outlet together every PUSH_INTERVAL (each with its own stamp), not batch by
batch: a push wakes liblsl's sender thread for every consumer, which at 64 dials cost several
times more CPU than the rest of the sink.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence

import pylsl

from dialwire import SCALE_LABELS, VALUE_MAX, VALUE_MIN
from microdial.device.stamp import DialKey
from microdial.model import DialEvent, DialStatus, Sample
from microdial.sinks.base import Sink
from microdial.sinks.lslformat import CHANNELS, PLAYBACK_CODE, STREAM_TYPE, source_id, stream_name

log = logging.getLogger(__name__)

# Samples wait at most this long before going to the outlet together. Each push wakes liblsl's
# sender for every consumer: at 64 dials x 100 Hz with an inlet reading, pushing every 20-ms
# batch cost ~23 % of a core, every 0.1 s ~8 %, every 0.25 s ~5 %, every 0.5 s ~4 % (the rest is
# per sample). The stamps are the samples' own, so only a live inlet's latency grows.
PUSH_INTERVAL = 0.25


class LslClock:
    """time.monotonic() -> LSL's local_clock(), by a measured offset kept fresh."""

    def __init__(
        self,
        refresh: float = 5.0,
        probes: int = 8,
        monotonic: Callable[[], float] = time.monotonic,
        lsl_clock: Callable[[], float] = pylsl.local_clock,
    ) -> None:
        self._refresh = refresh
        self._probes = probes
        self._monotonic = monotonic
        self._lsl_clock = lsl_clock
        self.offset = 0.0
        self.uncertainty = math.inf
        self._measured_at = -math.inf
        self.measure()

    def measure(self) -> float:
        """The offset from the probe with the narrowest window (the least disturbed by a switch)."""
        best = math.inf
        for _ in range(self._probes):
            before = self._monotonic()
            lsl = self._lsl_clock()
            after = self._monotonic()
            if after - before < best:
                best = after - before
                self.offset = lsl - (before + after) / 2
        self.uncertainty = best / 2
        self._measured_at = self._monotonic()
        return self.offset

    def current(self) -> float:
        """The offset, measured again when older than refresh seconds."""
        if self._monotonic() - self._measured_at > self._refresh:
            self.measure()
        return self.offset

    def to_lsl(self, host_monotonic: float) -> float:
        return host_monotonic + self.current()


class LslSink(Sink):
    """One dial's samples into its LSL outlet. The outlet opens with the dial's first status (the
    runner's at connect, before any sample), so its metadata carries the rate and firmware, and an
    inlet can connect before the first sample."""

    def __init__(self, key: DialKey, clock: LslClock, push_interval: float = PUSH_INTERVAL) -> None:
        self.key = key
        self._clock = clock
        self._interval = push_interval
        self._status: DialStatus | None = None
        self.outlet: pylsl.StreamOutlet | None = None
        self._rows: list[list[float]] = []
        self._stamps: list[float] = []
        self._due = math.inf
        self.pushed = 0

    def info(self) -> pylsl.StreamInfo:
        status = self._status
        rate = status.rate_hz if status is not None and status.rate_hz else pylsl.IRREGULAR_RATE
        key = self.key
        info = pylsl.StreamInfo(
            stream_name(key.session, key.role, key.dial),
            STREAM_TYPE,
            len(CHANNELS),
            rate,
            pylsl.cf_double64,
            source_id(key.session, key.role, key.dial),
        )
        desc = info.desc()
        channels = desc.append_child("channels")
        for label, unit, what in CHANNELS:
            channel = channels.append_child("channel")
            channel.append_child_value("label", label)
            channel.append_child_value("unit", unit)
            channel.append_child_value("type", STREAM_TYPE if label == "value" else label)
            channel.append_child_value("description", what)
        scale = desc.append_child("scale")
        scale.append_child_value("min", str(VALUE_MIN))
        scale.append_child_value("max", str(VALUE_MAX))
        labels = scale.append_child("labels")
        for point, text in sorted(SCALE_LABELS.items()):
            label = labels.append_child("label")
            label.append_child_value("value", str(point))
            label.append_child_value("text", text)
        desc.append_child_value("session", self.key.session)
        desc.append_child_value("role", self.key.role)
        desc.append_child_value("dial", self.key.dial)
        desc.append_child_value("rate_hz", str(status.rate_hz) if status and status.rate_hz else "")
        desc.append_child_value("firmware", status.firmware if status and status.firmware else "")
        desc.append_child_value("clock", "host_monotonic mapped onto lsl_local_clock")
        # UTC epoch seconds minus LSL time: an importer rebuilds each sample's host_time from it.
        wall = time.time() - self._clock.to_lsl(time.monotonic())
        desc.append_child_value("epoch_offset", repr(wall))
        acquisition = desc.append_child("acquisition")
        acquisition.append_child_value("manufacturer", "microdial")
        return info

    def put_samples(self, samples: Sequence[Sample]) -> None:
        if not samples:
            return
        if self.outlet is None:
            self._open()
        offset = self._clock.current()
        code = PLAYBACK_CODE
        nan = math.nan
        self._rows.extend(
            [
                s.value,
                nan if s.media_time is None else s.media_time,
                s.seq,
                code[s.playback],
                1.0 if s.discontinuity else 0.0,
            ]
            for s in samples
        )
        self._stamps.extend(s.host_monotonic + offset for s in samples)
        now = time.monotonic()
        if self._due == math.inf:
            self._due = now + self._interval
        elif now >= self._due:
            self._push()

    def _push(self) -> None:
        """Everything buffered into the outlet, each sample with its own stamp, in one chunk."""
        self._due = math.inf
        if not self._rows or self.outlet is None:
            return
        self.outlet.push_chunk(self._rows, self._stamps)
        self.pushed += len(self._rows)
        self._rows, self._stamps = [], []

    def put_status(self, status: DialStatus) -> None:
        self._status = status
        if self.outlet is None and status.state == "online":
            self._open()

    def _open(self) -> None:
        info = self.info()
        self.outlet = pylsl.StreamOutlet(info)
        log.info("dial %s: LSL outlet %s", self.key.dial, info.name())

    def put_event(self, event: DialEvent) -> None:
        # Marks and buttons stay on MQTT and in events.csv; an LSL marker stream is for later.
        return

    async def run(self) -> None:
        # What a dial that went quiet left in the buffer still leaves within the interval.
        while True:
            await asyncio.sleep(self._interval)
            if time.monotonic() >= self._due:
                self._push()

    async def flush(self, timeout: float) -> bool:
        self._push()
        return True

    async def close(self, timeout: float) -> bool:
        self._push()
        # liblsl destroys the outlet when pylsl's object goes; inlets then see the stream end.
        self.outlet = None
        return True

    @property
    def queued(self) -> int:
        return len(self._rows)


def lsl_sinks(
    clock: LslClock | None = None, push_interval: float = PUSH_INTERVAL
) -> Callable[[DialKey], Sink]:
    """The daemon's sink factory for `--lsl`: one outlet per dial, all on one measured clock."""
    shared = clock or LslClock()
    log.info("LSL clock offset from time.monotonic: %.6f s", shared.offset)

    def make(key: DialKey) -> Sink:
        return LslSink(key, shared, push_interval)

    return make
