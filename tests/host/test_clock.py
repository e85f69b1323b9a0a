"""The clock model against a device clock with a known offset and drift (pure arithmetic, no sleeps)."""

from __future__ import annotations

import random

import pytest

from microdial.device.clock import RESET_THRESHOLD, ClockModel, DeviceTimeline, Probe

OFFSET = 5123.25  # host monotonic − device time at device time 0, seconds


def device_clock(drift_ppm: float):  # type: ignore[no-untyped-def]
    """host → device time for a device whose crystal runs drift_ppm fast."""
    return lambda host: (host - OFFSET) * (1 + drift_ppm * 1e-6)


def probe(host_sent: float, to_device: float, back: float, clock) -> Probe:  # type: ignore[no-untyped-def]
    return Probe(
        host_sent=host_sent,
        device_time=clock(host_sent + to_device),
        host_received=host_sent + to_device + back,
    )


def true_host(device_time: float, drift_ppm: float) -> float:
    return device_time / (1 + drift_ppm * 1e-6) + OFFSET


@pytest.mark.parametrize("drift_ppm", [-100.0, 0.0, 100.0])
def test_follows_offset_and_drift_with_asymmetric_jitter(drift_ppm: float) -> None:
    rng = random.Random(7)
    clock = device_clock(drift_ppm)
    model = ClockModel()
    errors = []
    host = OFFSET + 10.0
    for _ in range(120):  # ten minutes of bursts every 5 s
        burst = [
            probe(host + i * 0.01, 0.0002 + rng.uniform(0, 0.003), 0.0002 + rng.uniform(0, 0.0005), clock)
            for i in range(8)
        ]
        model.add_burst(burst)
        host += 5.0
        device_now = clock(host)
        mapped, uncertainty = model.to_host(device_now)
        assert uncertainty is not None
        errors.append(abs(mapped - true_host(device_now, drift_ppm)))
    state = model.state()
    assert state is not None
    assert state.drift_ppm == pytest.approx(-drift_ppm, abs=5)  # offset shrinks as the device runs fast
    assert max(errors[10:]) < 0.001


def test_single_delayed_probe_does_not_pull_the_line() -> None:
    clock = device_clock(0.0)
    model = ClockModel()
    for k in range(20):
        model.add_burst([probe(OFFSET + k * 5.0, 0.0002, 0.0002, clock)])
    model.add_burst(
        [probe(OFFSET + 100.0, 0.050, 0.0001, clock)]
    )  # a 50 ms one-sided delay, alone in its burst
    mapped, _ = model.to_host(clock(OFFSET + 105.0))
    assert abs(mapped - (OFFSET + 105.0)) < 0.0005


def test_provisional_mapping_before_first_probe_has_no_uncertainty() -> None:
    model = ClockModel()
    model.observe_arrival(10.0, OFFSET + 10.004)
    model.observe_arrival(10.02, OFFSET + 10.021)  # the earliest arrival (1 ms late) wins
    mapped, uncertainty = model.to_host(11.0)
    assert uncertainty is None
    assert mapped == pytest.approx(OFFSET + 11.001)
    assert model.state() is None


def test_reset_forgets_the_old_device_clock() -> None:
    clock = device_clock(0.0)
    model = ClockModel()
    model.add_burst([probe(OFFSET + 1.0, 0.0002, 0.0002, clock)])
    assert model.synced
    model.reset()
    assert not model.synced and model.to_host(1.0)[1] is None


def test_timeline_tells_on_time_restart_and_impossible_jump() -> None:
    timeline = DeviceTimeline()
    assert timeline.observe(100.0, 1000.0) == "on"
    assert timeline.observe(100.01, 1000.01) == "on"
    # A stamp a little older than the latest (a key event's own time): jitter, the latest stays.
    assert timeline.observe(99.9, 1000.02) == "on" and timeline.last == 100.01
    # Unplugged for an hour: the device time moved as far as the host's, so it is believed.
    assert timeline.observe(3700.0, 4600.0) == "on"
    # 10^12 µs ahead within a second of host time: a damaged record; the latest is kept.
    assert timeline.observe(1e6, 4601.0) == "ahead" and timeline.last == 3700.0
    assert timeline.observe(3701.0, 4601.0) == "on"
    # Back by more than RESET_THRESHOLD: a restart; its time becomes the latest.
    assert timeline.observe(3701.0 - RESET_THRESHOLD - 0.1, 4601.1) == "back"
    assert timeline.observe(0.2, 4601.2) == "back" and timeline.last == 0.2
    assert timeline.observe(0.3, 4601.3) == "on"
