"""XDF in: ratings recorded through LSL (by our outlets, into an XDF file that follows the
specification, on a recorder whose clock differs) import to the same grid as the direct recording."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from microdial.analysis.grid import grid_for
from microdial.cli import main
from microdial.device.stamp import DialKey
from microdial.model import Sample
from microdial.sinks.lsl import lsl_sinks
from microdial.store.reader import read_samples
from microdial.store.writer import SessionRecord
from microdial.store.xdf import XdfImportError, import_xdf
from tests.lab.support import Received, record_lsl
from tests.lab.xdf_writer import XdfWriter

# The recording machine's LSL clock runs this far ahead of the dials' machine.
RECORDER_AHEAD = 1000.0


def write_xdf(path: Path, got: dict[str, Received]) -> None:
    xdf = XdfWriter()
    for stream, received in enumerate(got.values(), start=1):
        rows, stamps = received["samples"], received["stamps"]
        xdf.header(stream, str(received["info"][0]))
        for start in range(0, len(rows), 64):
            xdf.samples(stream, rows[start : start + 64], stamps[start : start + 64])
        for at in (stamps[0], stamps[len(stamps) // 2], stamps[-1]):
            xdf.clock_offset(stream, float(at) + RECORDER_AHEAD, RECORDER_AHEAD)
        xdf.footer(stream, float(stamps[0]), float(stamps[-1]), len(rows))
    # Another instrument's stream in the same file, which the importer leaves alone.
    ecg = len(got) + 1
    xdf.header(
        ecg,
        '<?xml version="1.0"?><info><name>ECG</name><type>ECG</type><channel_count>1</channel_count>'
        "<nominal_srate>250</nominal_srate><channel_format>double64</channel_format>"
        "<source_id>ecg1</source_id></info>",
    )
    xdf.samples(ecg, [[0.1], [0.2]], [1.0, 1.004])
    xdf.footer(ecg, 1.0, 1.004, 2)
    xdf.save(path)


def direct(out: Path, session: str, given: list[Sample]) -> Path:
    record = SessionRecord(out, session, window=1000)
    try:
        for dial in sorted({s.dial for s in given}):
            record.on_samples(dial, [s for s in given if s.dial == dial])
    finally:
        record.close()
    return out / session


async def test_an_xdf_recording_of_our_outlets_imports_to_the_grid_of_the_direct_recording(
    tmp_path: Path, session_code: str
) -> None:
    keys = [DialKey(session_code, "D1", "client"), DialKey(session_code, "D2", "therapist")]
    make = lsl_sinks()
    given, got = await record_lsl({key: make(key) for key in keys}, session_code, 3.0)
    path = tmp_path / "lab.xdf"
    write_xdf(path, got)

    # Through the command, as a lab runs it.
    assert main(["import", "xdf", str(path), "--out", str(tmp_path / "xdf")]) == 0
    assert sorted(p.name for p in (tmp_path / "xdf" / session_code).glob("*.samples.csv")) == [
        "D1.samples.csv",
        "D2.samples.csv",
    ]
    imported = grid_for(tmp_path / "xdf" / session_code)
    recorded = grid_for(direct(tmp_path / "direct", session_code, given))
    assert imported.clock == recorded.clock == "media"
    np.testing.assert_array_equal(imported.seconds, recorded.seconds)
    assert [r.rater for r in imported.raters] == [r.rater for r in recorded.raters] == ["client", "therapist"]
    for mine, theirs in zip(imported.raters, recorded.raters, strict=True):
        np.testing.assert_array_equal(mine.value, theirs.value)
        np.testing.assert_array_equal(mine.n_samples, theirs.n_samples)

    # Clock offsets applied: stamps on the recorder's clock; host_time back on UTC within 1 ms.
    back = list(read_samples(tmp_path / "xdf" / session_code / "D1.samples.csv"))
    mine = [s for s in given if s.dial == "D1"]
    assert [s.seq for s in back] == [s.seq for s in mine]
    assert (
        max(
            abs(b.host_monotonic - (m.host_monotonic + RECORDER_AHEAD))
            for b, m in zip(back, mine, strict=True)
        )
        < 1e-3
    )
    assert max(abs(b.host_time - m.host_time) for b, m in zip(back, mine, strict=True)) < 1e-3

    with pytest.raises(XdfImportError, match="already has dial"):
        import_xdf(path, out=tmp_path / "xdf")
    with pytest.raises(XdfImportError, match="no stream named"):
        import_xdf(path, out=tmp_path / "other", streams=["nope"])
    assert import_xdf(path, out=tmp_path / "ecg", session="S1", role="lab", streams=["ECG"]) == ["ECG"]
