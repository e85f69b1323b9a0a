"""Device time → host monotonic time, from PING/PONG probes (protocol/SPEC.md section 2).

Each burst of probes keeps the one with the smallest round trip: its offset
(host midpoint − device time) is the best the burst can say, good to ±RTT/2.
Offset and drift are then a least-squares line over the kept probes of a
sliding window, refitted without outliers, so slow crystal drift (tens of ppm)
is followed and a single delayed probe does not pull the line.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass
from typing import Literal

from microdial.model import SyncState

# A device clock that goes back by more than this restarted; less is the jitter of its own stamps.
RESET_THRESHOLD = 0.5
# A device clock cannot run ahead of the host's by more than its drift (crystals: tens of ppm) plus
# how late the earlier record arrived (buffered in the USB stack: seconds at most). A time further
# ahead is a damaged record that passed the check value: believed, it would make every later record
# look like a restart.
AHEAD_RATE = 1.001
AHEAD_SLACK = 10.0

Verdict = Literal["on", "back", "ahead"]


class DeviceTimeline:
    """The latest device time a dial's records showed; says whether a new one is on, back, or too far ahead.

    "back" (by more than RESET_THRESHOLD) is a restart: the new time becomes the latest. "ahead" is
    impossible: the caller drops the record and the latest stays.
    """

    __slots__ = ("arrival", "last")

    def __init__(self) -> None:
        self.last: float | None = None
        self.arrival = 0.0  # host monotonic instant the latest arrived

    def observe(self, device_time: float, arrival: float) -> Verdict:
        last = self.last
        verdict: Verdict = "on"
        if last is not None:
            if device_time > last:
                if device_time - last > (arrival - self.arrival) * AHEAD_RATE + AHEAD_SLACK:
                    return "ahead"
            elif device_time < last - RESET_THRESHOLD:
                verdict = "back"
            else:
                return "on"  # a little back: its stamp's jitter; the latest stays
        self.last = device_time
        self.arrival = arrival
        return verdict


@dataclass(frozen=True, slots=True)
class Probe:
    host_sent: float
    device_time: float
    host_received: float

    @property
    def rtt(self) -> float:
        return self.host_received - self.host_sent

    @property
    def offset(self) -> float:
        return (self.host_sent + self.host_received) / 2 - self.device_time


@dataclass(frozen=True, slots=True)
class _Fit:
    reference: float  # device time the line is centred on
    offset: float  # at reference
    drift: float  # seconds of offset per device second
    uncertainty: float


class ClockModel:
    def __init__(self, window: int = 60, outlier_floor: float = 200e-6) -> None:
        self._kept: deque[Probe] = deque(maxlen=window)
        self._outlier_floor = outlier_floor
        self._fit: _Fit | None = None
        self._provisional: float | None = None

    def reset(self) -> None:
        """Forget everything: the device restarted and its clock began again."""
        self._kept.clear()
        self._fit = None
        self._provisional = None

    @property
    def synced(self) -> bool:
        return self._fit is not None

    @property
    def bursts(self) -> int:
        return len(self._kept)

    def add_burst(self, probes: list[Probe]) -> Probe | None:
        """Keep the burst's minimum-RTT probe and refit; returns the probe kept."""
        valid = [probe for probe in probes if probe.rtt >= 0]
        if not valid:
            return None
        best = min(valid, key=lambda probe: probe.rtt)
        self._kept.append(best)
        self._fit = self._refit()
        return best

    def observe_arrival(self, device_time: float, host_arrival: float) -> None:
        """Before the first probe, the earliest arrival bounds the offset from above."""
        offset = host_arrival - device_time
        if self._provisional is None or offset < self._provisional:
            self._provisional = offset

    def to_host(self, device_time: float) -> tuple[float, float | None]:
        """(host monotonic seconds, uncertainty seconds or None before the first probe)."""
        fit = self._fit
        if fit is None:
            return device_time + (self._provisional or 0.0), None
        offset = fit.offset + fit.drift * (device_time - fit.reference)
        return device_time + offset, fit.uncertainty

    def state(self) -> SyncState | None:
        fit = self._fit
        if fit is None:
            return None
        return SyncState(offset=fit.offset, drift_ppm=fit.drift * 1e6, uncertainty=fit.uncertainty)

    def _refit(self) -> _Fit:
        probes = list(self._kept)
        fit = _line(probes)
        if len(probes) >= 5:
            residuals = [abs(_residual(fit, p)) for p in probes]
            limit = max(3 * 1.4826 * statistics.median(residuals), self._outlier_floor)
            inliers = [p for p, r in zip(probes, residuals, strict=True) if r <= limit]
            if len(inliers) >= 3 and len(inliers) < len(probes):
                fit = _line(inliers)
        return fit


def _residual(fit: _Fit, probe: Probe) -> float:
    return probe.offset - (fit.offset + fit.drift * (probe.device_time - fit.reference))


def _line(probes: list[Probe]) -> _Fit:
    """Least squares offset = a + b·(t − t̄), weighted by 1/RTT² (tighter probes count more)."""
    half_rtt = statistics.median(p.rtt for p in probes) / 2
    if len(probes) < 3:
        latest = probes[-1]
        return _Fit(latest.device_time, latest.offset, 0.0, latest.rtt / 2)
    weights = [1.0 / max(p.rtt, 1e-6) ** 2 for p in probes]
    total = math.fsum(weights)
    reference = math.fsum(w * p.device_time for w, p in zip(weights, probes, strict=True)) / total
    mean_offset = math.fsum(w * p.offset for w, p in zip(weights, probes, strict=True)) / total
    sxx = math.fsum(w * (p.device_time - reference) ** 2 for w, p in zip(weights, probes, strict=True))
    sxy = math.fsum(
        w * (p.device_time - reference) * (p.offset - mean_offset)
        for w, p in zip(weights, probes, strict=True)
    )
    drift = sxy / sxx if sxx > 0 else 0.0
    fit = _Fit(reference, mean_offset, drift, 0.0)
    spread = math.sqrt(math.fsum(_residual(fit, p) ** 2 for p in probes) / (len(probes) - 2 or 1))
    return _Fit(reference, mean_offset, drift, math.hypot(half_rtt, spread))
