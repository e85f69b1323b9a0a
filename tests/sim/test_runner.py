"""SimulatedDial: the real firmware (dialfw) under microdial.sim.fakes — fakes of CircuitPython's
own modules only — on real pseudo-terminals."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import serial

from microdial.errors import ConfigError
from microdial.sim.rater import RandomRater, ScriptedRater, SteadyRater
from microdial.sim.runner import SimulatedDial, random_device_id
from tests.sim.conftest import Reader


@pytest.fixture
def make_sim() -> Iterator[Callable[..., SimulatedDial]]:
    sims: list[SimulatedDial] = []

    def make(rater: Any = None, **options: Any) -> SimulatedDial:
        sim = SimulatedDial(rater or SteadyRater(0), **options)
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        sim.stop()


def test_identity_samples_and_ping(make_sim: Any, open_reader: Any) -> None:
    sim = make_sim(device_id="abcdef0123456789")
    path = sim.start()
    assert sim.path == path and path.startswith("/dev/")
    reader: Reader = open_reader(path)
    ident = reader.kind("ID")
    assert ident[:5] == [2, "0.2.0", "ABCDEF0123456789", "encoder", 50]
    assert ident[7] == sim.boot
    reader.kind("S")
    h0 = time.monotonic()
    reader.send("PING", (31,))
    token, t_us = reader.kind("PONG")
    h1 = time.monotonic()
    assert token == 31
    assert h0 - 0.001 <= sim.host_monotonic_of(t_us) <= h1 + 0.001


def test_set_value_is_sent_and_reported(make_sim: Any, open_reader: Any) -> None:
    writes: list[tuple[str, list[Any], float]] = []
    sim = make_sim(on_write=lambda kind, fields, after: writes.append((kind, fields, after)))
    reader = open_reader(sim.start())
    reader.kind("S")
    before = time.monotonic()
    sim.set_value(23)
    _seq, _, value = reader.until(lambda r: r[0] == "S" and r[1][2] == 23)[1]
    assert value == 23 and sim.value == 23
    written = next(w for w in writes if w[0] == "S" and w[1][2] == 23)
    assert before <= written[2] <= time.monotonic()
    assert sim.last_sent is not None and sim.last_sent[2] == 23
    sim.set_value(-80)  # past the stop: the knob spins to -50 and no further
    reader.until(lambda r: r[0] == "S" and r[1][2] == -50)
    assert sim.value == -50


def test_periodic_rate_and_rate_command(make_sim: Any, open_reader: Any) -> None:
    sim = make_sim(rate_hz=20)
    reader = open_reader(sim.start())
    first = reader.kind("S")
    reader.send("RATE", (200,))
    assert reader.kind("ACK") == ["RATE", "ok", "200"]
    start = reader.kind("S")
    time.sleep(0.5)
    end = reader.kind("S")
    rate = (end[0] - start[0]) / ((end[1] - start[1]) / 1e6)
    # Samples keep to a 5 ms grid; the thread's wake-up lateness at either end moves a 0.5 s
    # measurement by a percent or so (the exact rate is tests/firmware/test_rate.py's, on a test clock).
    assert 150 < rate < 205
    assert first[0] < start[0]


def test_clock_offset_and_drift_are_what_the_host_sees(make_sim: Any, open_reader: Any) -> None:
    sim = make_sim(clock_offset=1000.0, clock_drift_ppm=500.0)
    reader = open_reader(sim.start())
    probes = []
    for token in range(4):
        h0 = time.monotonic()
        reader.send("PING", (token,))
        _, t_us = reader.until(lambda r, token=token: r[0] == "PONG" and r[1][0] == token)[1]
        probes.append((h0, t_us, time.monotonic()))
        time.sleep(0.3)
    assert probes[0][1] >= 1_000_000_000
    for h0, t_us, h1 in probes:
        assert h0 - 0.001 <= sim.host_monotonic_of(t_us) <= h1 + 0.001
    # 500 ppm: the device clock runs measurably fast against the host's.
    device_span = (probes[-1][1] - probes[0][1]) / 1e6
    host_span = sim.host_monotonic_of(probes[-1][1]) - sim.host_monotonic_of(probes[0][1])
    assert device_span == pytest.approx(host_span * 1.0005, abs=1e-5)


def test_unplug_and_replug_keep_the_link_and_the_firmware_state(
    make_sim: Any, open_reader: Any, tmp_path: Path
) -> None:
    link = tmp_path / "dial0"
    sim = make_sim(link=link)
    first = sim.start()
    assert os.path.realpath(link) == first
    reader = open_reader(str(link))
    seq_before = reader.kind("S")[0]
    sim.unplug()
    assert not link.exists() and not os.path.lexists(link)
    assert sim.path is None
    assert not os.path.exists(first)
    with pytest.raises(serial.SerialException, match="disconnected"):
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            reader.port.read(4096)
    second = sim.replug()
    assert os.path.realpath(link) == second
    again = open_reader(str(link))
    assert again.kind("ID")[2] == sim.device_id
    assert again.kind("S")[0] > seq_before  # no restart: the sequence went on


def test_reset_restarts_clock_and_sequence(make_sim: Any, open_reader: Any) -> None:
    sim = make_sim()
    reader = open_reader(sim.start())
    time.sleep(0.3)
    seq_before, t_before, _ = reader.kind("S")
    # Past the ID sent 200 ms after the port opened, so the ID awaited below is the reset's.
    while seq_before < 20:
        seq_before, t_before, _ = reader.kind("S")
    boot_before = sim.boot
    sim.reset()
    ident = reader.until(lambda r: r[0] == "ID")[1]
    seq, t_us, _ = reader.kind("S")
    assert seq < seq_before and t_us < t_before
    assert sim.boots == 2
    # The same dial, a new boot: its samples' identity (device, boot, seq) differs from the last boot's.
    assert ident[2] == sim.device_id and ident[7] == sim.boot != boot_before


def test_ticks_ms_clock_crosses_the_wrap(make_sim: Any, open_reader: Any) -> None:
    # The device's ticks_ms starts 5 s before its wrap; an offset of 4.8 s brings the wrap near.
    sim = make_sim(ticks_ms=True, clock_offset=4.8)
    reader = open_reader(sim.start())
    assert sim.firmware.clock.source == "ticks_ms"
    times = []
    while not times or times[-1] < 5_400_000:
        times.append(reader.kind("S")[1])
    assert times == sorted(times)
    assert all(b - a < 100_000 for a, b in itertools.pairwise(times))


def test_scripted_rater_turns_the_knob(make_sim: Any, open_reader: Any) -> None:
    sim = make_sim(ScriptedRater([(0.0, 0.0), (0.5, 20.0)]))
    reader = open_reader(sim.start())
    values = []
    while not values or values[-1] != 20:
        values.append(reader.kind("S")[2])
    assert values == sorted(values)


def test_link_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    sim = SimulatedDial(SteadyRater(0), link=tmp_path / "missing-dir" / "dial")
    with pytest.raises(ConfigError, match=r"cannot make the link .*missing-dir/dial: No such file"):
        sim.start()
    assert sim.path is None


def test_bad_options_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="not hexadecimal"):
        SimulatedDial(SteadyRater(0), device_id="xyz")
    with pytest.raises(ConfigError, match="rate"):
        SimulatedDial(SteadyRater(0), rate_hz=0)


def test_default_device_id_is_seeded_and_differs_by_role() -> None:
    assert random_device_id(1) == random_device_id(1) != random_device_id(2)
    assert SimulatedDial(SteadyRater(0), seed=7).device_id == random_device_id(7)
    client = SimulatedDial(RandomRater("client", 3), seed=3)
    therapist = SimulatedDial(RandomRater("therapist", 3), seed=3)
    assert client.device_id != therapist.device_id
    assert client.device_id == SimulatedDial(RandomRater("client", 3), seed=3).device_id


def test_button_presses_reach_the_host(make_sim: Any, open_reader: Any) -> None:
    sim = make_sim()
    reader = open_reader(sim.start())
    sim.set_value(10)
    reader.until(lambda r: r[0] == "S" and r[1][2] == 10)
    sim.set_value(None)
    sim.press(0.05)
    t_down, kind = reader.kind("BTN")
    assert kind == "down"
    t_up = reader.kind("BTN")[0]
    assert reader.kind("BTN") == [t_up, "mark"]
    assert 40_000 <= t_up - t_down <= 80_000
    sim.press(0.9)
    assert reader.until(lambda r: r[0] == "BTN" and r[1][1] in ("mark", "long"))[1][1] == "long"
    reader.until(lambda r: r[0] == "S" and r[1][2] == 0)
