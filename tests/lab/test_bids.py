"""BIDS out: a session's raters as continuous recordings that the official validator accepts."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest

from dialwire import SCALE_LABELS, VALUE_MAX, VALUE_MIN
from microdial.cli import main
from microdial.device.stamp import DialKey
from microdial.model import DialEvent
from microdial.store.writer import SessionRecord
from tests.conftest import ROOT
from tests.lab.support import sample, status

VALIDATOR = ROOT / ".ci-cache" / "bids" / "node_modules" / ".bin" / "bids-validator"
T0 = 5000.0
WALL = 1_763_700_000.0


def record_session(out: Path, session: str) -> Path:
    keys = [
        DialKey(session, "D1", "client", "P07"),
        DialKey(session, "D2", "observer"),
        DialKey(session, "D3", "observer"),
    ]
    record = SessionRecord(out, session, window=1000)
    try:
        for n, key in enumerate(keys):
            record.on_status(status(key))
            # 4 s at 100 Hz from 0.1 s apart; D2 loses a second in the middle.
            samples = [
                sample(key, seq, T0 + n * 0.1 + seq / 100, 30.0 + seq / 100, WALL).model_copy(
                    update={"participant": key.participant}
                )
                for seq in range(400)
                if not (key.dial == "D2" and 150 <= seq < 250)
            ]
            record.on_samples(key.dial, samples)
        record.on_event(
            DialEvent(
                dial="D1",
                role="client",
                session=session,
                kind="button",
                host_time=WALL + T0 + 1.5,
                host_monotonic=T0 + 1.5,
                media_time=31.5,
            )
        )
    finally:
        record.close()
    return out / session


def tsv_gz(path: Path) -> list[list[str]]:
    return [
        line.rstrip("\n").split("\t") for line in gzip.decompress(path.read_bytes()).decode().splitlines()
    ]


def validate(dataset: Path) -> dict[str, list[dict[str, object]]]:
    if not VALIDATOR.exists():
        pytest.fail("the BIDS validator is not installed: run scripts/test, which installs it")
    done = subprocess.run(
        [str(VALIDATOR), "--json", "--ignoreNiftiHeaders", str(dataset)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report: dict[str, dict[str, list[dict[str, object]]]] = json.loads(done.stdout)
    return report["issues"]


def test_an_exported_session_validates_and_keeps_each_raters_signal_scale_and_events(tmp_path: Path) -> None:
    folder = record_session(tmp_path / "rec", "S01")
    dataset = tmp_path / "bids"
    # Through the command, as a lab runs it.
    assert main(["export", "--bids", str(dataset), str(folder)]) == 0

    issues = validate(dataset)
    assert issues["errors"] == [], json.dumps(issues["errors"], indent=1)[:4000]

    beh = dataset / "sub-P07" / "ses-S01" / "beh"
    stem = "sub-P07_ses-S01_task-rating"
    meta = json.loads((beh / f"{stem}_recording-dial_physio.json").read_text())
    assert meta["SamplingFrequency"] == 100.0 and meta["StartTime"] == 0.0
    assert meta["Columns"] == ["rating", "media_time", "still"]
    assert meta["rating"]["ScaleMinimum"] == VALUE_MIN and meta["rating"]["ScaleMaximum"] == VALUE_MAX
    assert meta["rating"]["ScaleLabels"] == {str(k): v for k, v in SCALE_LABELS.items()}
    assert meta["media_time"]["Units"] == "s"
    rows = tsv_gz(beh / f"{stem}_recording-dial_physio.tsv.gz")
    assert len(rows) == 400 and rows[0][1] == "30.000" and rows[-1][1] == "33.990"
    events = (beh / f"{stem}_events.tsv").read_text().splitlines()
    assert events[0].split("\t") == ["onset", "duration", "trial_type", "detail", "media_time"]
    assert ["1.500000", "0", "button", "n/a", "31.500"] in [e.split("\t") for e in events]

    # Two observers share a role: each is its own subject, named by role and dial.
    second = json.loads(
        (
            dataset
            / "sub-observerD2/ses-S01/beh/sub-observerD2_ses-S01_task-rating_recording-dial_physio.json"
        ).read_text()
    )
    assert second["StartTime"] == 0.1
    gap = [
        row[0]
        for row in tsv_gz(
            dataset
            / "sub-observerD2/ses-S01/beh/sub-observerD2_ses-S01_task-rating_recording-dial_physio.tsv.gz"
        )
    ]
    assert gap[149] != "n/a" and gap[200] == "n/a" and gap[260] != "n/a"  # lost data is n/a, not held
    assert (dataset / "participants.tsv").read_text().splitlines() == [
        "participant_id\trole",
        "sub-P07\tclient",
        "sub-observerD2\tobserver",
        "sub-observerD3\tobserver",
    ]
    assert json.loads((dataset / "dataset_description.json").read_text())["DatasetType"] == "raw"
