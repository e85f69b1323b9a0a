"""The recorder's side of delivery, driven directly: journal order, gaps asked for, identity, confirmations."""

from __future__ import annotations

from pathlib import Path

from microdial.model import Confirmation, ReplayRequest, Sample, SampleBatch
from microdial.mqtt.topics import dial_topic
from microdial.recorder import Recorder
from microdial.store.format import SessionMeta, samples_file
from microdial.store.reader import read_samples

from .conftest import make_samples

TOPIC = dial_topic("S1", "D1", "samples")


def batch(samples: list[Sample], first: int, journal: str = "j1", head: int = 0) -> bytes:
    return SampleBatch(samples=samples, journal=journal, first=first, head=head).model_dump_json().encode()


def written(out: Path) -> list[tuple[str | None, int]]:
    return [(s.boot, s.seq) for s in read_samples(out / "S1" / samples_file("D1"))]


def test_an_early_batch_waits_for_the_gap_which_is_asked_for_then_all_is_written_in_order(
    tmp_path: Path,
) -> None:
    samples = make_samples("S1", "D1", "client", 0, 30, boot="b1")
    recorder = Recorder(tmp_path, ident="rec")
    recorder.handle(TOPIC, batch(samples[:10], 0))
    recorder.handle(TOPIC, batch(samples[20:], 20))  # 10..19 went to nobody
    (topic, payload, retain), *_ = recorder.receipts.outbox
    request = ReplayRequest.model_validate_json(payload)
    assert (topic.endswith("/D1/replay/rec"), retain) == (True, False)
    assert (request.journal, request.start, request.stop) == ("j1", 10, 20)
    recorder.handle(TOPIC, batch(samples[5:20], 5))  # the replay, overlapping what was written
    recorder.handle(TOPIC, batch(samples[:10], 0))  # and a redelivery
    recorder.receipts.outbox.clear()
    recorder.sync()
    recorder.receipts.confirm(recorder.sessions)
    (topic, payload, retain), *_ = recorder.receipts.outbox
    assert retain and Confirmation.model_validate_json(payload).journals == {"j1": 30}
    recorder.close()
    assert written(tmp_path) == [("b1", seq) for seq in range(30)]
    meta = SessionMeta.load(tmp_path / "S1")
    assert (meta.dials["D1"].samples, meta.dials["D1"].lost_samples, meta.dials["D1"].duplicates_dropped) == (
        30,
        0,
        15,
    )


def test_a_restarted_recorder_goes_on_from_where_its_session_json_says(tmp_path: Path) -> None:
    samples = make_samples("S1", "D1", "client", 0, 20, boot="b1")
    recorder = Recorder(tmp_path, ident="rec")
    recorder.handle(TOPIC, batch(samples[:10], 0))
    recorder.close()
    again = Recorder(tmp_path, ident="rec")
    again.handle(TOPIC, batch(samples, 0))
    again.close()
    assert written(tmp_path) == [("b1", seq) for seq in range(20)]


def test_identity_is_dial_boot_seq_and_without_a_boot_seq_and_host_time(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, ident="rec")
    first = make_samples("S1", "D1", "client", 0, 3, boot="b1")
    # The same samples sent again by another daemon run: new host times, same identity.
    again = [s.model_copy(update={"host_time": s.host_time + 5}) for s in first]
    next_boot = make_samples("S1", "D1", "client", 0, 3, boot="b2")  # the dial restarted: seq from 0
    old = make_samples("S1", "D1", "client", 10, 2)  # a protocol 1 dial: no boot
    for samples in (first, again, next_boot, old, old):
        recorder.handle(TOPIC, SampleBatch(samples=samples).model_dump_json().encode())
    recorder.close()
    assert written(tmp_path) == [
        *[("b1", s) for s in range(3)],
        *[("b2", s) for s in range(3)],
        (None, 10),
        (None, 11),
    ]
