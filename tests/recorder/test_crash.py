"""Faults for real: kill -9 of a recorder process, a full disk (a 64 KiB tmpfs), a restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from microdial.embedded_broker import MosquittoProcess
from microdial.errors import RecordingError
from microdial.recorder import RecorderSettings, record
from microdial.store.format import SessionMeta, samples_file
from microdial.store.reader import read_events, read_samples
from microdial.store.writer import SessionRecord

from .conftest import T0, make_event, make_samples, publisher, rows_in, running_recorder, wait_for


async def start_recorder(
    broker: MosquittoProcess, out: Path, session: str, log: Path
) -> subprocess.Popen[bytes]:
    """`python -m microdial record` as its own process, once it has subscribed."""
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "microdial", "record"),
                *(
                    "--broker",
                    broker.url,
                    "--out",
                    str(out),
                    "--session",
                    session,
                    "--client-id",
                    "crash-test",
                ),
            ],
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    start = log.stat().st_size if log.exists() else 0

    def subscribed() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"recorder exited with {proc.returncode}: {log.read_text()}")
        return b"recording microdial/v1/" in log.read_bytes()[start:]

    await wait_for(subscribed, what="the recorder to subscribe")
    return proc


async def test_kill_9_and_restart_keeps_every_sample_once(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path
) -> None:
    """The recorder is killed mid-stream, a torn last line is left as a kill -9 mid-write leaves
    it, and the publisher goes on; the restarted recorder ends with every sample once, in order."""
    out = tmp_path / "rec"
    log = tmp_path / "recorder.log"
    samples = make_samples(session_code, "d1", "client", 0, 4000)
    path = out / session_code / samples_file("d1")
    proc = await start_recorder(mosquitto, out, session_code, log)
    try:
        async with publisher(mosquitto) as pub:
            feeding = asyncio.create_task(pub.samples(samples, batch=20))
            await wait_for(lambda: rows_in(path) >= 800, what="800 rows")
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed_at = rows_in(path)
            assert killed_at < len(samples), "the publisher should still be going"
            with path.open("ab") as torn:
                torn.write(b"d1,client," + session_code.encode() + b",12,99")
            await pub.event(make_event(session_code, "d1", "client", "button", "while down"))
            await feeding
            proc = await start_recorder(mosquitto, out, session_code, log)
            await wait_for(lambda: rows_in(path) >= len(samples), timeout=30, what="every sample")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert list(read_samples(path)) == samples
    assert b"torn last line" in log.read_bytes()
    meta = SessionMeta.load(out / session_code)
    assert meta.dials["d1"].samples == len(samples) and meta.dials["d1"].gaps == 0
    assert [e.detail for e in read_events(out / session_code / "events.csv")] == ["while down"]


@contextlib.contextmanager
def tiny_tmpfs(where: Path, size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


async def test_full_disk_stops_with_a_clear_error_and_loses_nothing(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path
) -> None:
    """A real full disk: a 64 KiB tmpfs. Then room is made and a new recorder run catches up."""
    samples = make_samples(session_code, "d1", "client", 0, 2000)
    with tiny_tmpfs(tmp_path / "small", "64k") as out:
        settings = RecorderSettings(
            broker=mosquitto.url, out=out, session=session_code, client_id="disk-test"
        )
        path = out / session_code / samples_file("d1")
        async with publisher(mosquitto) as pub:
            ready = asyncio.Event()
            task = asyncio.create_task(record(settings, ready=ready))
            await asyncio.wait_for(ready.wait(), 10)
            await pub.samples(samples, batch=20)
            with pytest.raises(RecordingError, match=r"No space left on device.*intact"):
                await asyncio.wait_for(task, 20)
            written = list(read_samples(path))
            assert 0 < len(written) < len(samples)
            assert written == samples[: len(written)]
            assert path.read_bytes().endswith(b"\n")

            subprocess.run(["mount", "-o", "remount,size=4m", str(out)], check=True)
            async with running_recorder(settings):
                await wait_for(lambda: rows_in(path) >= len(samples), what="the rest after making room")
        assert list(read_samples(path)) == samples


def test_a_restarted_writer_counts_and_deduplicates_as_if_it_had_never_stopped(tmp_path: Path) -> None:
    """What a restart rebuilds from the files (by columns) equals what a writer that never stopped
    holds: gaps, a seq restart, playback, uncertainty mean to the bit, and the redelivered tail dropped."""
    samples = make_samples("S1", "d1", "client", 0, 3000)
    samples = [s for s in samples if s.seq % 500 != 7]  # six gaps of one sample
    samples += make_samples("S1", "d1", "client", 0, 200, host_time=T0 + 100.0, playback="paused")
    continuous = SessionRecord(tmp_path / "one", "S1", window=1000)
    continuous.on_samples("d1", samples)
    continuous.close()
    first = SessionRecord(tmp_path / "two", "S1", window=1000)
    first.on_samples("d1", samples[:1700])
    first.close()
    restarted = SessionRecord(tmp_path / "two", "S1", window=1000)
    restarted.on_samples("d1", samples[1500:])  # the tail before the stop comes again
    restarted.close()
    meta = SessionMeta.load(tmp_path / "two" / "S1").dials["d1"]
    expected = SessionMeta.load(tmp_path / "one" / "S1").dials["d1"]
    assert meta.duplicates_dropped == 200
    assert meta.model_dump(exclude={"duplicates_dropped"}) == expected.model_dump(
        exclude={"duplicates_dropped"}
    )
    assert meta.gaps == 6 and meta.lost_samples == 6 and meta.samples == len(samples)
    assert list(read_samples(tmp_path / "two" / "S1" / samples_file("d1"))) == samples
    kinds = [e.kind for e in read_events(tmp_path / "two" / "S1" / "events.csv")]
    assert kinds == [e.kind for e in read_events(tmp_path / "one" / "S1" / "events.csv")]
    assert kinds.count("gap") == 6 and kinds.count("seq-restart") == 1 and kinds.count("playback") == 1
