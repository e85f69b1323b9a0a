"""LSL out: every dial an outlet; a consumer in another process gets every sample, stamped with
the sample's own host time on LSL's clock."""

from __future__ import annotations

import asyncio
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from dialwire import SCALE_LABELS, VALUE_MAX, VALUE_MIN
from microdial.daemon import lab_sinks
from microdial.device.stamp import DialKey
from microdial.sinks.lsl import LslClock, LslSink, lsl_sinks
from microdial.sinks.lslformat import LABELS
from microdial.sinks.memory import MemorySink
from microdial.sinks.tee import TeeSink, tee_sinks
from tests.host.support import wait_for
from tests.lab.support import lsl_offset, record_lsl, sample, status


def test_clock_maps_onto_a_clock_with_another_origin_and_follows_its_jumps() -> None:
    now = [100.0]
    shift = [5000.25]
    clock = LslClock(refresh=5.0, monotonic=lambda: now[0], lsl_clock=lambda: now[0] + shift[0])
    assert clock.to_lsl(99.5) == pytest.approx(5099.75, abs=1e-9)
    # The machine slept: LSL's clock ran on, Python's did not (macOS); seen at the next refresh.
    shift[0] += 30.0
    now[0] += 6.0
    assert clock.to_lsl(105.5) == pytest.approx(105.5 + 5030.25, abs=1e-9)


@pytest.mark.skipif(sys.platform != "linux", reason="both clocks are CLOCK_MONOTONIC on Linux only")
def test_on_linux_lsl_clock_is_python_monotonic() -> None:
    assert abs(LslClock().offset) < 1e-4


async def test_an_inlet_in_another_process_receives_every_sample_in_order_on_the_lsl_clock(
    session_code: str,
) -> None:
    keys = [
        DialKey(session_code, f"D{n}", role, None)
        for n, role in enumerate(["client", "therapist", "obs", "obs"])
    ]
    memory = {key: MemorySink() for key in keys}
    make = tee_sinks(lsl_sinks(), lambda key: memory[key])
    sinks = {key: make(key) for key in keys}
    for sink in sinks.values():
        assert isinstance(sink, TeeSink) and isinstance(sink.sinks[0], LslSink)
    seconds, rate = 3.0, 100
    count = round(seconds * rate)
    given, got = await record_lsl(sinks, session_code, seconds, rate)
    offset = lsl_offset()

    errors = []
    for key in keys:
        sid = f"microdial:{session_code}:{key.role}:{key.dial}"
        mine = [s for s in given if s.dial == key.dial]
        assert memory[key].samples == mine  # the tee gave the other sink the same samples
        rows, stamps = got[sid]["samples"], got[sid]["stamps"]
        assert [int(row[LABELS.index("seq")]) for row in rows] == list(range(count)), key.dial
        assert [row[0] for row in rows] == [s.value for s in mine]
        assert [row[1] for row in rows] == [s.media_time for s in mine]
        errors += [abs(stamp - (s.host_monotonic + offset)) for stamp, s in zip(stamps, mine, strict=True)]
        desc = ET.fromstring(got[sid]["info"][0]).find("desc")
        assert desc is not None
        assert [c.findtext("label") for c in desc.iter("channel")] == list(LABELS)
        assert desc.findtext("scale/min") == str(VALUE_MIN) and desc.findtext("scale/max") == str(VALUE_MAX)
        labels = {
            int(n.findtext("value") or 0): n.findtext("text")
            for n in desc.iter("label")
            if n.find("text") is not None
        }
        assert labels == SCALE_LABELS
        assert (desc.findtext("session"), desc.findtext("role"), desc.findtext("dial")) == (
            session_code,
            key.role,
            key.dial,
        )
        assert desc.findtext("rate_hz") == "100" and desc.findtext("firmware") == "microdial-fw 0.3.0"
    assert max(errors) < 1e-3, f"worst time stamp error {max(errors) * 1e3:.3f} ms"
    for sink in sinks.values():
        assert await sink.close(1.0)


async def test_a_quiet_dials_last_samples_leave_within_the_push_interval(session_code: str) -> None:
    key = DialKey(session_code, "Q1", "client")
    sink = LslSink(key, LslClock(), push_interval=0.05)
    running = asyncio.create_task(sink.run())
    try:
        sink.put_status(status(key))
        sink.put_samples([sample(key, seq, time.monotonic(), None, 0.0) for seq in range(3)])
        assert sink.queued == 3
        await wait_for(lambda: sink.queued == 0, 1.0, "the push")
        assert sink.pushed == 3
    finally:
        running.cancel()
        await sink.close(1.0)


def test_the_daemons_lsl_switch_puts_an_outlet_beside_each_mqtt_sink(session_code: str) -> None:
    def memory(key: DialKey) -> MemorySink:
        return MemorySink()

    assert lab_sinks(memory, False) is memory
    key = DialKey(session_code, "D1", "client")
    sink = lab_sinks(memory, True)(key)
    assert isinstance(sink, TeeSink)
    first, second = sink.sinks
    assert isinstance(first, MemorySink) and isinstance(second, LslSink)
    sink.put_samples([sample(key, 0, time.monotonic(), 1.0, 0.0)])
    assert [s.seq for s in first.samples] == [0]
