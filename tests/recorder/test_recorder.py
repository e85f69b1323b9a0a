"""The recorder against a real Mosquitto: payloads published with aiomqtt, files read back."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from microdial.cli import main
from microdial.embedded_broker import MosquittoProcess
from microdial.model import DialEvent, SampleBatch
from microdial.mqtt.topics import dial_topic
from microdial.recorder import RecorderSettings
from microdial.store.format import SessionMeta, samples_file
from microdial.store.reader import read_events, read_samples

from .conftest import make_event, make_samples, make_status, publisher, rows_in, running_recorder, wait_for


def settings_for(broker: MosquittoProcess, out: Path, **extra: object) -> RecorderSettings:
    return RecorderSettings.model_validate(
        {"broker": broker.url, "out": out, "client_id": "rec-test"} | extra
    )


async def test_writes_the_session_folder(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    client = make_samples(session_code, "dialA", "client", 0, 300)
    therapist = make_samples(session_code, "dialB", "therapist", 0, 200, media_time=None, playback=None)
    async with running_recorder(settings_for(mosquitto, out)), publisher(mosquitto) as pub:
        await pub.status(make_status(session_code, "dialA", "client"))
        await pub.status(make_status(session_code, "dialB", "therapist"))
        await pub.samples(client, batch=30)
        await pub.samples(therapist, batch=10)
        await pub.event(make_event(session_code, "dialA", "client"))
        folder = out / session_code
        await wait_for(lambda: rows_in(folder / samples_file("dialA")) == 300, what="dialA rows")
        await wait_for(lambda: rows_in(folder / samples_file("dialB")) == 200, what="dialB rows")
        await wait_for(lambda: rows_in(folder / "events.csv") >= 3, what="events")
    assert list(read_samples(folder / samples_file("dialA"))) == client
    assert list(read_samples(folder / samples_file("dialB"))) == therapist
    first_row = (folder / samples_file("dialB")).read_text().splitlines()[1]
    assert first_row.endswith(',1000.0,,0.0005,,mpv,"session, take 1.mp4",3000.0,false,')  # null = empty

    meta = SessionMeta.load(folder)
    assert meta.session == session_code
    assert meta.roles == {"client": ["dialA"], "therapist": ["dialB"]}
    dial = meta.dials["dialA"]
    assert (dial.role, dial.device_id, dial.firmware, dial.protocol, dial.input, dial.rate_hz) == (
        "client",
        "dialA",
        "microdial-fw 0.1.0",
        1,
        "encoder",
        100,
    )
    assert dial.samples == 300 and dial.gaps == 0 and dial.state == "online"
    assert dial.first_host_time == client[0].host_time and dial.last_host_time == client[-1].host_time
    assert dial.sync is not None and dial.sync.uncertainty == 0.0004
    assert dial.sync_uncertainty_max == max(s.sync_uncertainty or 0 for s in client)
    assert meta.scale.labels[-50] == "Weakest possible"
    assert json.loads((folder / "session.json").read_text())["roles"]["therapist"] == ["dialB"]

    events = list(read_events(folder / "events.csv"))
    kinds = {(e.source, e.dial, e.kind, e.detail) for e in events}
    assert ("daemon", "dialA", "button", "mark") in kinds
    assert ("recorder", "dialA", "status", "online") in kinds


async def test_duplicates_gaps_pauses_and_seeks(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    first = make_samples(session_code, "d1", "client", 0, 50)
    # seq 50..59 lost on the way; playback pauses at 70, a seek lands at 80.
    rest = make_samples(session_code, "d1", "client", 60, 40)
    rest = [s.model_copy(update={"playback": "paused"}) if s.seq >= 70 else s for s in rest]
    rest = [s.model_copy(update={"discontinuity": True}) if s.seq == 80 else s for s in rest]
    async with running_recorder(settings_for(mosquitto, out)), publisher(mosquitto) as pub:
        await pub.samples(first)
        await pub.samples(first[20:40])  # a redelivery
        await pub.samples(rest)
        path = out / session_code / samples_file("d1")
        await wait_for(lambda: rows_in(path) == 90, what="90 rows")
        await pub.samples(rest[-5:])
        await pub.samples(make_samples(session_code, "d1", "client", 100, 1))
        await wait_for(lambda: rows_in(path) == 91, what="91 rows")
    assert [s.seq for s in read_samples(path)] == [*range(50), *range(60, 101)]
    events = [e for e in read_events(out / session_code / "events.csv") if e.source == "recorder"]
    assert [(e.kind, e.seq) for e in events] == [
        ("gap", 60),
        ("playback", 70),
        ("seek", 80),
        ("playback", 100),
    ]
    assert events[0].detail.startswith("10 samples lost")
    meta = SessionMeta.load(out / session_code).dials["d1"]
    assert (meta.gaps, meta.lost_samples, meta.duplicates_dropped) == (1, 10, 25)


async def test_a_dial_that_resets_counts_from_zero_again(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    before = make_samples(session_code, "d1", "client", 0, 30)
    after = [
        s.model_copy(update={"host_time": s.host_time + 60})
        for s in make_samples(session_code, "d1", "client", 0, 30)
    ]
    async with running_recorder(settings_for(mosquitto, out)), publisher(mosquitto) as pub:
        await pub.samples(before)
        await pub.samples(after)
        path = out / session_code / samples_file("d1")
        await wait_for(lambda: rows_in(path) == 60, what="60 rows")
    assert list(read_samples(path)) == before + after
    kinds = [e.kind for e in read_events(out / session_code / "events.csv")]
    assert kinds == ["seq-restart"]


async def test_persistent_session_loses_nothing_while_down(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    samples = make_samples(session_code, "d1", "client", 0, 600)
    path = out / session_code / samples_file("d1")
    async with publisher(mosquitto) as pub:
        async with running_recorder(settings_for(mosquitto, out, session=session_code)):
            await pub.samples(samples[:200])
            await wait_for(lambda: rows_in(path) == 200, what="first 200")
        await pub.samples(samples[200:500])  # nobody listening: the broker queues them
        await pub.event(make_event(session_code, "d1", "client", "disconnect", "unplugged"))
        async with running_recorder(settings_for(mosquitto, out, session=session_code)):
            await pub.samples(samples[500:])
            await wait_for(lambda: rows_in(path) == 600, what="all 600")
    assert list(read_samples(path)) == samples
    assert SessionMeta.load(out / session_code).dials["d1"].samples == 600
    assert [e.kind for e in read_events(out / session_code / "events.csv")] == ["disconnect"]


async def test_broker_restart_mid_session(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path
) -> None:
    """Samples published while the broker is back but the recorder not yet are queued for it."""
    # Mosquitto started as root drops to the mosquitto user, which must be able to write its
    # persistence file into the fixture's folder, or the recorder's session dies with the broker.
    os.chmod(mosquitto.config_path.parent, 0o777)
    out = tmp_path / "rec"
    samples = make_samples(session_code, "d1", "client", 0, 400)
    path = out / session_code / samples_file("d1")
    async with running_recorder(settings_for(mosquitto, out, reconnect_max=0.3)) as task:
        async with publisher(mosquitto) as pub:
            await pub.samples(samples[:200])
            await wait_for(lambda: rows_in(path) == 200, what="first 200")
        await asyncio.to_thread(mosquitto.restart)
        async with publisher(mosquitto) as pub:
            await pub.samples(samples[200:])
        await wait_for(lambda: rows_in(path) == 400, what="all 400")
        assert not task.done()
    assert list(read_samples(path)) == samples


async def test_bad_payloads_are_noted_and_skipped(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    good = make_samples(session_code, "d1", "client", 0, 10)
    async with running_recorder(settings_for(mosquitto, out)), publisher(mosquitto) as pub:
        await pub.raw(dial_topic(session_code, "d1", "samples"), b'{"samples": [{"value": 99}]}')
        await pub.raw(dial_topic(session_code, "d1", "events"), b"not json")
        # A payload naming another dial than its topic.
        other = SampleBatch(samples=[s.model_copy(update={"dial": "d2"}) for s in good[:2]])
        await pub.raw(dial_topic(session_code, "d1", "samples"), other.model_dump_json().encode())
        await pub.raw(dial_topic("..", "d1", "samples"), b"[]")
        await pub.samples(good)
        path = out / session_code / samples_file("d1")
        await wait_for(lambda: rows_in(path) == 10, what="10 rows")
        await wait_for(lambda: rows_in(out / session_code / "events.csv") == 3, what="3 events")
    assert list(read_samples(path)) == good
    events = list(read_events(out / session_code / "events.csv"))
    assert [e.kind for e in events] == ["bad-payload"] * 3
    assert not (out / session_code / samples_file("d2")).exists()
    assert sorted(p.name for p in out.iterdir()) == [session_code]


async def test_events_payload_round_trip(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    sent = make_event(session_code, "d1", "therapist", "button", 'mark "a", b')
    async with running_recorder(settings_for(mosquitto, out)), publisher(mosquitto) as pub:
        await pub.event(sent)
        await wait_for(lambda: rows_in(out / session_code / "events.csv") == 1, what="event")
    (got,) = read_events(out / session_code / "events.csv")
    back = DialEvent.model_validate(
        got.model_dump(include=set(DialEvent.model_fields)) | {"session": session_code}
    )
    assert back == sent


async def test_retained_status_alone_makes_no_folder(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    old_session = f"{session_code}old"
    async with publisher(mosquitto) as pub:
        # Left behind on the broker by a daemon of an earlier session.
        await pub.status(make_status(old_session, "dOld", "client", state="offline"))
        await pub.status(make_status(session_code, "d1", "client"))
        async with running_recorder(settings_for(mosquitto, out)):
            await pub.samples(make_samples(session_code, "d2", "therapist", 0, 10))
            await wait_for(lambda: rows_in(out / session_code / samples_file("d2")) == 10, what="d2 rows")
            assert not (out / old_session).exists()
            # The held status is applied once the session has something of its own.
            await pub.samples(make_samples(session_code, "d1", "client", 0, 5))
            await wait_for(lambda: rows_in(out / session_code / samples_file("d1")) == 5, what="d1 rows")
    meta = SessionMeta.load(out / session_code)
    assert meta.dials["d1"].firmware == "microdial-fw 0.1.0" and meta.dials["d1"].state == "online"
    assert not (out / old_session).exists()


def test_record_cli_rejects_a_bad_broker_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "--broker", "ftp://somewhere", "--out", "rec"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("microdial record: ") and "mqtt://HOST:PORT" in err and err.count("\n") == 1
