"""Forged but well-formed samples against the real recorder and a real Mosquitto (issue 13): each
ends in quarantine.csv with its reason, the counts add up, and the real samples are untouched."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from microdial.embedded_broker import MosquittoProcess
from microdial.model import Sample
from microdial.mqtt.topics import dial_topic
from microdial.recorder import RecorderSettings
from microdial.store.format import QUARANTINE_FILE, SessionMeta, samples_file
from microdial.store.plausible import Kept, read_quarantine, verdict
from microdial.store.reader import read_samples

from ..recorder.conftest import T0, make_samples, make_status, publisher, rows_in, running_recorder, wait_for


def settings_for(broker: MosquittoProcess, out: Path) -> RecorderSettings:
    return RecorderSettings.model_validate({"broker": broker.url, "out": out, "client_id": "rec-quarantine"})


def forged(sample: Sample, **fields: object) -> bytes:
    """A sample's JSON with fields replaced as a hostile publisher would write them (NaN included)."""
    data = json.loads(sample.model_dump_json()) | fields
    return json.dumps({"samples": [data]}, allow_nan=True).encode()


async def test_forged_samples_are_kept_apart(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "rec"
    real = make_samples(session_code, "d1", "client", 0, 200)
    topic = dial_topic(session_code, "d1", "samples")
    template = real[99]
    attacks = [
        forged(template, seq=900_000_000),
        forged(template, role="therapist", seq=100),
        forged(template, host_time=math.nan, seq=100),
        forged(template, host_time=1e308, seq=100),
        forged(template, host_time=-1e308, seq=100),
        forged(template, media_time=math.inf, seq=100),
        forged(template, device_time=1e308, seq=100),
    ]
    async with running_recorder(settings_for(mosquitto, out)), publisher(mosquitto) as pub:
        await pub.status(make_status(session_code, "d1", "client"))
        await pub.samples(real[:100])
        for attack in attacks:
            await pub.raw(topic, attack)
        await pub.samples(real[100:])
        folder = out / session_code
        await wait_for(lambda: rows_in(folder / samples_file("d1")) == 200, what="200 rows")
        await wait_for(lambda: rows_in(folder / QUARANTINE_FILE) == len(attacks), what="quarantine rows")
    assert list(read_samples(folder / samples_file("d1"))) == real
    rows = read_quarantine(folder / QUARANTINE_FILE)
    assert [row.rule for row in rows] == ["seq-jump", "role", "invalid", "time", "time", "invalid", "time"]
    assert all(row.dial == "d1" and row.reason for row in rows)
    assert "900000000" in rows[0].reason and rows[0].seq == 900_000_000
    assert "therapist" in rows[1].reason
    assert "finite" in rows[2].reason and "NaN" in rows[2].payload
    meta = SessionMeta.load(folder)
    assert meta.quarantined == {"seq-jump": 1, "role": 1, "invalid": 2, "time": 3}
    dial = meta.dials["d1"]
    assert (dial.role, dial.samples, dial.gaps, dial.lost_samples) == ("client", 200, 0, 0)
    assert meta.roles == {"client": ["d1"]}
    assert f"{session_code}: 1 kept apart in quarantine.csv by rule seq-jump" in caplog.text


async def test_a_restarted_recorder_judges_against_what_it_wrote(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    real = make_samples(session_code, "d1", "client", 0, 50)
    folder = out / session_code
    async with running_recorder(settings_for(mosquitto, out)), publisher(mosquitto) as pub:
        await pub.samples(real)
        await wait_for(lambda: rows_in(folder / samples_file("d1")) == 50, what="50 rows")
    async with running_recorder(settings_for(mosquitto, out)), publisher(mosquitto) as pub:
        await pub.raw(dial_topic(session_code, "d1", "samples"), forged(real[-1], seq=800_000_000))
        await pub.samples(make_samples(session_code, "d1", "client", 50, 10))
        await wait_for(lambda: rows_in(folder / samples_file("d1")) == 60, what="60 rows")
        await wait_for(lambda: rows_in(folder / QUARANTINE_FILE) == 1, what="quarantine row")
    meta = SessionMeta.load(folder)
    assert meta.quarantined == {"seq-jump": 1}
    assert (meta.dials["d1"].gaps, meta.dials["d1"].lost_samples) == (0, 0)


def sample(seq: int, host_time: float, **extra: object) -> Sample:
    return make_samples("S", "d1", "client", seq, 1, host_time=host_time, **extra)[0]


def test_the_rules() -> None:
    now = T0 + 100
    last = Kept(100, T0)
    assert verdict(sample(101, T0 + 0.01), last, "client", now) is None
    # A dial that restarted its count, and a real gap of a minute at 1000 Hz, are kept.
    assert verdict(sample(0, T0 + 1), last, "client", now) is None
    assert verdict(sample(100 + 60_000, T0 + 60), last, "client", now) is None
    replay = Kept(100_000, T0 + 100)
    assert verdict(sample(90_000, T0 + 90), replay, "client", now) is None
    back = verdict(sample(10_000, T0 + 90), replay, "client", now)
    assert back is not None and back.rule == "seq-jump"
    jump = verdict(sample(100 + 200_000, T0 + 60), last, "client", now)
    assert jump is not None and jump.rule == "seq-jump"
    role = verdict(sample(101, T0 + 0.01), last, "therapist", now)
    assert role is not None and role.rule == "role"
    # Only an hour ahead of the recorder's clock, and nothing before 2000.
    assert verdict(sample(101, now + 3000), last, "client", now) is None
    for host_time in (now + 7200, 1e308, -1e308, 0.0):
        why = verdict(sample(101, host_time), last, "client", now)
        assert why is not None and why.rule == "time"
    # The first sample of a dial, and its first role, are taken as they come.
    assert verdict(sample(900_000_000, T0), None, None, now) is None
