"""The daemon's per-dial pipeline against the real firmware running on pseudo-terminals.

The dial is microdial's simulator: the unmodified firmware under CPython with fakes of
CircuitPython's modules (the only part that cannot exist on this machine).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dialwire import SEQ_MODULO, VALUE_MAX, VALUE_MIN, encode
from microdial.device.runner import DialRunner, RunnerOptions
from microdial.device.session import DialSession
from microdial.device.transports.serial import SerialTransport
from microdial.sinks.memory import MemorySink
from tests.host.support import CorruptingLink, make_dial, wait_for

FAST = RunnerOptions(reopen_min=0.05, reopen_max=0.2, status_interval=0.2)


@asynccontextmanager
async def running(runner: DialRunner) -> AsyncIterator[DialRunner]:
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def runner_for(path: str, sink: MemorySink, role: str = "client") -> DialRunner:
    return DialRunner(lambda: SerialTransport(path), "S1", role, lambda key: sink, options=FAST)


async def test_every_sample_arrives_once_in_order_with_identity() -> None:
    dial, sent = make_dial(rate_hz=200)
    path = dial.start()
    sink = MemorySink()
    try:
        async with running(runner_for(path, sink)) as runner:
            await wait_for(lambda: len(sink.samples) >= 400, what="400 samples")
            dial.halt()
            await wait_for(lambda: sink.samples[-1].seq == sent.samples[-1][0], what="the last sample")
    finally:
        dial.stop()
    received = [(s.seq, s.value) for s in sink.samples]
    first = received[0][0]
    expected = [(seq, value) for seq, _, value in sent.samples if seq >= first]
    assert received == expected
    assert runner.identity is not None and runner.identity.device == dial.device_id
    assert {s.dial for s in sink.samples} == {dial.device_id}
    assert runner.decoder.bad_records == 0 and runner.decoder.lost_samples == 0
    assert [e.kind for e in sink.events] == ["connect"]


async def test_mapped_time_matches_the_true_device_clock() -> None:
    """Device clock 1234 s ahead and 80 ppm fast: mapped times must land on the true host instants."""
    dial, _ = make_dial(rate_hz=100, clock_offset=1234.0, clock_drift_ppm=80.0)
    path = dial.start()
    sink = MemorySink()
    try:
        async with running(runner_for(path, sink)) as runner:
            await wait_for(lambda: runner.clock.bursts >= 3, what="three probe bursts")
            start = len(sink.samples)
            await wait_for(lambda: len(sink.samples) >= start + 100, what="100 synced samples")
    finally:
        dial.stop()
    synced = [s for s in sink.samples[start:] if s.sync_uncertainty is not None]
    errors = sorted(
        abs(s.host_monotonic - dial.host_monotonic_of(round(s.device_time * 1e6))) for s in synced
    )
    assert len(synced) >= 100
    # Generous: the bound is about correctness of the mapping, not this machine's scheduling.
    assert errors[len(errors) // 2] < 0.002, errors[len(errors) // 2]
    assert all(s.sync_uncertainty is not None and s.sync_uncertainty < 0.05 for s in synced)


async def test_unplug_and_replug_through_a_stable_link(tmp_path: Path) -> None:
    link = tmp_path / "dial0"
    dial, _sent = make_dial(link=link)
    dial.start()
    sink = MemorySink()
    try:
        async with running(runner_for(str(link), sink)) as runner:
            await wait_for(lambda: len(sink.samples) >= 50, what="samples before unplug")
            dial.unplug()
            await wait_for(lambda: any(e.kind == "disconnect" for e in sink.events), what="disconnect event")
            assert sink.statuses[-1].state == "no-device"
            await asyncio.sleep(0.3)  # the dial is away for a moment; the firmware keeps counting
            before = len(sink.samples)
            dial.replug()
            await wait_for(lambda: len(sink.samples) >= before + 50, what="samples after replug")
            await wait_for(lambda: sink.statuses[-1].state == "online", what="online again")
    finally:
        dial.stop()
    kinds = [e.kind for e in sink.events]
    assert kinds[:3] == ["connect", "disconnect", "connect"]
    seqs = [s.seq for s in sink.samples]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # Samples the firmware could not send while nobody had the port open are a counted gap, not hidden.
    assert runner.decoder.gaps >= 1
    assert runner.decoder.lost_samples == (seqs[-1] - seqs[0] + 1) - len(seqs) > 0


async def test_device_reset_is_detected_and_the_clock_resynced() -> None:
    dial, _ = make_dial()
    path = dial.start()
    sink = MemorySink()
    try:
        async with running(runner_for(path, sink)) as runner:
            await wait_for(lambda: runner.clock.synced and len(sink.samples) > 100, what="synced samples")
            dial.reset()
            await wait_for(lambda: runner.resets == 1, what="reset detected")
            await wait_for(lambda: runner.clock.synced, what="re-sync after reset")
            count = len(sink.samples)
            await wait_for(lambda: len(sink.samples) > count + 20, what="samples after reset")
    finally:
        dial.stop()
    assert [e.kind for e in sink.events].count("reset") == 1
    after = [s for s in sink.samples[count:]]
    assert after[0].seq < 200  # numbering began again with the restart
    assert after[-1].sync_uncertainty is not None


async def test_corrupted_bytes_are_skipped_and_every_intact_record_recovered() -> None:
    dial, sent = make_dial(rate_hz=200)
    path = dial.start()
    corrupting = CorruptingLink(path, every=2)
    sink = MemorySink()
    try:
        async with running(runner_for(corrupting.path, sink)) as runner:
            await wait_for(lambda: len(sink.samples) >= 500 and corrupting.damaged >= 50, what="500 samples")
            dial.halt()
            await wait_for(lambda: sink.samples[-1].seq == sent.samples[-1][0], what="the last sample")
    finally:
        dial.stop()
        corrupting.close()
    received = [(s.seq, s.value) for s in sink.samples]
    first = received[0][0]
    assert received == [(seq, value) for seq, _, value in sent.samples if seq >= first]
    assert runner.decoder.bad_records >= corrupting.damaged * 0.9
    assert runner.decoder.skipped_bytes > 0
    assert runner.decoder.lost_samples == 0


# -- a record no dial can send changes nothing ------------------------------------------------------
DEVICE = "E6614103E7452D2F"
START_US = 5_000_000  # the first good sample's device time
GOOD = encode("ID", (1, "0.1.0", DEVICE, "encoder", 100, 4, 0)) + b"".join(
    encode("S", (seq, START_US + seq * 10_000, 3)) for seq in range(50)
)
NEXT = encode("S", (50, START_US + 50 * 10_000, 4))
# Device times a dial cannot send after GOOD: before its start, or a minute and more ahead of it.
BAD_TIME = st.integers(max_value=-1) | st.integers(min_value=START_US + 60_000_000, max_value=10**15)
OFF_SCALE = st.integers(max_value=VALUE_MIN - 1) | st.integers(min_value=VALUE_MAX + 1)
BAD_SEQ = st.integers(max_value=-1) | st.integers(min_value=SEQ_MODULO)
ANY_SEQ = st.integers(0, SEQ_MODULO - 1)
GOOD_TIME = st.integers(START_US, START_US + 10_000_000)
ON_SCALE = st.integers(VALUE_MIN, VALUE_MAX)
BAD_RECORDS = st.one_of(
    st.tuples(st.just("S"), st.tuples(ANY_SEQ, BAD_TIME, ON_SCALE)),
    st.tuples(st.just("S"), st.tuples(ANY_SEQ, GOOD_TIME, OFF_SCALE)),
    st.tuples(st.just("S"), st.tuples(BAD_SEQ, GOOD_TIME, ON_SCALE)),
    st.tuples(st.just("HB"), st.tuples(BAD_TIME, ANY_SEQ, ON_SCALE)),
    st.tuples(st.just("HB"), st.tuples(GOOD_TIME, ANY_SEQ, OFF_SCALE)),
    st.tuples(st.just("BTN"), st.tuples(BAD_TIME, st.just("mark"))),
    st.tuples(st.just("ERR"), st.tuples(BAD_TIME, st.just("loop"), st.just("slow"))),
    st.tuples(st.just("DIAG"), st.tuples(BAD_TIME, *[st.integers(0, 9)] * 5)),
    st.tuples(st.just("PONG"), st.tuples(st.integers(0, 10**9), BAD_TIME)),
    st.tuples(
        st.just("ID"),
        st.tuples(
            st.just(1),
            *[st.just(text) for text in ("0.1.0", DEVICE, "pot")],
            st.integers(1001, 10**6),
            st.just(4),
            ON_SCALE,
        ),
    ),
)


def state(session: DialSession, sink: MemorySink) -> tuple[object, ...]:
    """Everything a record can change, but the bad-record count."""
    counters = session.counters().model_dump(exclude={"bad_records"})
    return (
        counters,
        session.last_value,
        session.identity,
        session.timeline.last,
        session.clock.state(),
        len(sink.samples),
        len(sink.events),
        len(sink.statuses),
    )


async def feed_bad_record(bad: bytes) -> None:
    primary, secondary = os.openpty()
    sink = MemorySink()
    session = DialSession("S1", "client", lambda key: sink)
    transport = SerialTransport(os.ttyname(secondary))
    await session.connect(transport)
    try:
        session.data_received(GOOD)
        before = state(session, sink)
        assert len(sink.samples) == 50 and session.counters().bad_records == 0
        session.data_received(bad)
        assert state(session, sink) == before
        assert session.counters().bad_records == 1
        # The stream goes on as if the bad record had never come: no gap, no restart.
        session.data_received(NEXT)
        counters = session.counters()
        assert (counters.samples, counters.gaps, counters.lost_samples, counters.resets) == (51, 0, 0, 0)
        assert [s.seq for s in sink.samples] == list(range(51))
    finally:
        await transport.close()
        os.close(primary)
        os.close(secondary)


@settings(max_examples=150, deadline=None)
@given(BAD_RECORDS)
def test_a_record_no_dial_can_send_changes_no_state(bad: tuple[str, tuple[int | str, ...]]) -> None:
    """Issue 13: times of −5 µs or 10^12 µs made false restarts; a value of 999 made a gap first."""
    kind, fields = bad
    asyncio.run(feed_bad_record(encode(kind, fields)))


async def test_the_cases_issue_13_found() -> None:
    for bad in (
        encode("S", (50, -5, 3)),
        encode("S", (50, 10**12, 3)),
        encode("S", (100_050, START_US, 999)),
    ):
        await feed_bad_record(bad)
