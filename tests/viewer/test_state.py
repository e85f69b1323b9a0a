"""What the viewer and watch keep from the payloads (LiveState), fed real JSON payloads."""

from __future__ import annotations

from microdial.live_state import LiveState
from microdial.model import Sample, SampleBatch
from microdial.mqtt.topics import dial_topic
from tests.recorder.conftest import T0, make_samples


def feed(state: LiveState, samples: list[Sample], batch: int = 10) -> None:
    for i in range(0, len(samples), batch):
        chunk = samples[i : i + batch]
        topic = dial_topic(chunk[0].session, chunk[0].dial, "samples")
        state.handle(topic, SampleBatch(samples=chunk).model_dump_json().encode())


def test_session_time_when_there_is_no_media_time() -> None:
    state = LiveState("S1")
    feed(state, make_samples("S1", "d1", "client", 0, 20, media_time=None))
    feed(state, make_samples("S1", "d2", "therapist", 0, 5))
    trace = state.dials["d1"]
    assert trace.x[0] == 0.0 and trace.x[-1] == (T0 + 0.19) - T0
    assert list(state.dials["d2"].x) == [s / 100 + 0.125 for s in range(5)]  # media time as is


def test_whole_session_history_is_thinned_to_its_limit() -> None:
    state = LiveState("S1", history_points=100)
    feed(state, make_samples("S1", "d1", "client", 0, 1000))
    trace = state.dials["d1"]
    assert len(trace.x) <= 100 and trace.stride == 16
    steps = {round(b - a, 6) for a, b in zip(trace.x, trace.x[1:], strict=False)}
    assert steps == {0.16}
    assert len(trace.pending) == 1000  # every point still goes out live


def test_other_sessions_and_bad_payloads_are_ignored() -> None:
    state = LiveState("S1")
    feed(state, make_samples("S2", "d1", "client", 0, 5))
    state.handle(dial_topic("S1", "d1", "samples"), b'{"samples": [{"value": 1}]}')
    assert state.dials == {} and state.bad_payloads == 1


def test_seeded_history_is_thinned_alike_and_not_drawn_twice() -> None:
    """The recording's samples (web.history) seed the trace; live ones it already holds are skipped."""
    state = LiveState("S1", history_points=100)
    samples = make_samples("S1", "d1", "client", 0, 1000)
    recorded, live = samples[:600], samples[500:]  # the last 100 recorded also arrive live
    state.seed(
        "d1",
        "client",
        [s.media_time or 0.0 for s in recorded],
        [s.value for s in recorded],
        until=recorded[-1].host_time,
    )
    feed(state, live)
    reference = LiveState("S1", history_points=100)  # the same samples, all heard live
    feed(reference, samples)
    trace = state.dials["d1"]
    assert trace.seen == 1000 and len(trace.pending) == 400
    assert list(trace.x) == list(reference.dials["d1"].x) and trace.stride == reference.dials["d1"].stride
