"""Clock mapping accuracy: a simulated dial in simulated time, through microdial.device.clock exactly as the dial runner uses it.

The dial's crystal runs off by a known drift (−100, 0, +100 ppm) from a known offset. Probes go out
as microdial.device.session sends them (bursts of 8 PINGs, one burst a second for the first 5, then every
5 s); each direction's USB delay is independently uniform (host→device 0.1–3 ms, device→host
0.1–1 ms) with occasional 10 ms scheduling spikes, so the minimum-RTT probe is biased by the
asymmetry, as on a real bus. Every 10 ms the dial takes a sample; its device timestamp is mapped
with the fit available at that moment and compared with the true host instant.

    python benchmarks/bench_clock.py [--hours 2] [--seed 1]

Prints p50/p99/max absolute error (ms) per drift and the mean reported uncertainty. Target: p99 ≤ 0.5 ms.
"""

from __future__ import annotations

import argparse
import random

import numpy as np

from microdial.device.clock import ClockModel, Probe
from microdial.device.session import SessionOptions

UP = (0.1e-3, 3e-3)  # host → device
DOWN = (0.1e-3, 1e-3)  # device → host
SPIKE_PROBABILITY = 0.01  # per direction and probe
SPIKE = 10e-3
SAMPLE_PERIOD = 0.01
HOST_START = 5000.0  # host monotonic seconds when the dial connects
DEVICE_BOOT = 4000.123456  # host instant the device clock read zero


class SimulatedDial:
    def __init__(self, drift_ppm: float) -> None:
        self.rate = 1 + drift_ppm * 1e-6

    def device_time(self, host: np.ndarray | float) -> np.ndarray | float:
        """What the dial's clock reads at a host instant, in whole microseconds as on the wire."""
        return np.floor((np.asarray(host) - DEVICE_BOOT) * self.rate * 1e6) / 1e6


def delay(rng: random.Random, bounds: tuple[float, float]) -> float:
    extra = SPIKE if rng.random() < SPIKE_PROBABILITY else 0.0
    return rng.uniform(*bounds) + extra


def burst(dial: SimulatedDial, start: float, rng: random.Random, probes: int) -> tuple[list[Probe], float]:
    """One burst of sequential probes from host instant `start`; (probes, instant the last answer arrived)."""
    out = []
    now = start
    for _ in range(probes):
        up, down = delay(rng, UP), delay(rng, DOWN)
        out.append(
            Probe(host_sent=now, device_time=float(dial.device_time(now + up)), host_received=now + up + down)
        )
        now += up + down + 50e-6  # the event loop's turn between answer and next PING
    return out, now


def burst_starts(options: SessionOptions, seconds: float) -> list[float]:
    starts = [HOST_START + i * 1.0 for i in range(options.fast_bursts)]
    while starts[-1] < HOST_START + seconds:
        starts.append(starts[-1] + options.sync_interval)
    return starts


def simulate(drift_ppm: float, seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(absolute errors s, reported uncertainties s, samples taken before the first burst completed)."""
    options = SessionOptions()
    rng = random.Random(seed)
    dial = SimulatedDial(drift_ppm)
    model = ClockModel()
    sample_hosts = HOST_START + np.arange(0.0, seconds, SAMPLE_PERIOD)
    device_times = np.asarray(dial.device_time(sample_hosts))
    errors: list[np.ndarray] = []
    uncertainties: list[np.ndarray] = []
    unsynced = 0

    def map_until(begin: float, end: float) -> None:
        """Map the samples taken in [begin, end) with the fit the model has now."""
        nonlocal unsynced
        first, last = np.searchsorted(sample_hosts, [begin, end])
        if not model.synced:
            unsynced += int(last - first)
            return
        mapped, uncertainty = model.to_host(device_times[first:last])  # type: ignore[arg-type]
        errors.append(np.abs(np.asarray(mapped) - sample_hosts[first:last]))
        uncertainties.append(np.full(int(last - first), uncertainty))

    completed_at = HOST_START
    for start in burst_starts(options, seconds):
        map_until(completed_at, start)
        probes, completed_at = burst(dial, start, rng, options.probes_per_burst)
        # A burst is added only once its last probe came back; samples meanwhile use the old fit.
        map_until(start, completed_at)
        model.add_burst(probes)
    map_until(completed_at, HOST_START + seconds)
    return np.concatenate(errors), np.concatenate(uncertainties), unsynced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    seconds = args.hours * 3600
    print(
        f"simulated {args.hours:g} h at 100 Hz; delays host→device {UP[0] * 1e3:g}–{UP[1] * 1e3:g} ms, "
        f"device→host {DOWN[0] * 1e3:g}–{DOWN[1] * 1e3:g} ms, {SPIKE_PROBABILITY:.0%} spikes of {SPIKE * 1e3:g} ms"
    )
    print(
        f"{'drift':>9} {'samples':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'mean unc ms':>12} {'target':>7}"
    )
    for drift in (-100.0, 0.0, 100.0):
        errors, uncertainties, unsynced = simulate(drift, seconds, args.seed)
        p50, p99 = np.percentile(errors, [50, 99]) * 1e3
        verdict = "met" if p99 <= 0.5 else "MISSED"
        print(
            f"{drift:+6.0f}ppm {len(errors):9d} {p50:8.3f} {p99:8.3f} {errors.max() * 1e3:8.3f} "
            f"{uncertainties.mean() * 1e3:12.3f} {verdict:>7}"
            + (f"  ({unsynced} samples before the first burst)" if unsynced else "")
        )


if __name__ == "__main__":
    main()
