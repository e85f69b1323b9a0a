"""The on-disk spool: order, bounds, restart recovery, torn tails, kill -9 and a really full disk."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from microdial.mqtt.spool import Spool, SpoolError


def record(index: int, size: int = 300) -> bytes:
    head = f'{{"seq":{index},"pad":"'.encode()
    return head + b"x" * max(0, size - len(head) - 2) + b'"}'


def drain(spool: Spool, batch: int = 97) -> list[bytes]:
    out: list[bytes] = []
    while records := spool.peek(batch):
        out.extend(records)
        spool.commit(len(records))
    return out


def test_order_across_appends_commits_and_segment_rollover(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", segment_bytes=10_000)
    expected = [record(i, 50 + i % 400) for i in range(5000)]
    received: list[bytes] = []
    position = 0
    step = 0
    while position < len(expected) or len(spool):
        step += 1
        chunk = expected[position : position + step % 37]
        assert spool.append(chunk) == len(chunk)
        position += len(chunk)
        peeked = spool.peek(step % 53 + 1)
        assert peeked == spool.peek(step % 53 + 1), "peek must not remove"
        take = len(peeked) if step % 3 else len(peeked) // 2
        received.extend(peeked[:take])
        spool.commit(take)
    assert received == expected
    assert len(spool) == 0 and spool.dropped == 0
    # Fully committed segments are deleted: at most the one being appended to remains.
    assert len(list((tmp_path / "s").glob("*.seg"))) <= 1
    spool.close()


def test_restart_recovers_uncommitted_records_in_order(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    spool = Spool(directory, segment_bytes=4096)
    spool.append([record(i) for i in range(100)])
    assert spool.peek(30) == [record(i) for i in range(30)]
    spool.commit(30)
    spool.close()

    again = Spool(directory, segment_bytes=4096)
    assert len(again) == 70
    assert again.size_bytes >= 70 * 300
    assert again.peek(5) == [record(i) for i in range(30, 35)]
    again.append([record(i) for i in range(100, 120)])
    again.close()

    third = Spool(directory, segment_bytes=4096)
    assert drain(third) == [record(i) for i in range(30, 120)]
    third.close()
    with Spool(directory, segment_bytes=4096) as fourth:
        assert drain(fourth) == []


def test_torn_and_corrupt_tails_are_discarded_never_misread(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    spool = Spool(directory)
    spool.append([record(i) for i in range(10)])
    spool.close()
    (segment,) = directory.glob("*.seg")
    data = segment.read_bytes()
    # Half of one more record, as a kill in the middle of a write would leave it.
    segment.write_bytes(data + data[: 8 + 100])
    recovered = Spool(directory)
    assert recovered.peek(100) == [record(i) for i in range(10)]
    recovered.append([record(10)])
    recovered.close()
    with Spool(directory) as again:
        assert again.peek(100) == [record(i) for i in range(11)]

    # A flipped bit in the last record: the CRC rejects it and everything before it stays.
    damaged = bytearray(segment.read_bytes())
    damaged[-5] ^= 0x10
    segment.write_bytes(bytes(damaged))
    with Spool(directory) as damaged_spool:
        assert damaged_spool.peek(100) == [record(i) for i in range(10)]


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    first = Spool(tmp_path / "s")
    with pytest.raises(SpoolError, match="in use by another daemon"):
        Spool(tmp_path / "s")
    first.append([record(1)])
    first.close()
    with Spool(tmp_path / "s") as second:
        assert second.peek(5) == [record(1)]


def test_bound_is_counted_as_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", max_bytes=10 * (300 + 8), segment_bytes=1000)
    assert spool.append([record(i) for i in range(7)]) == 7
    assert spool.append([record(i) for i in range(7, 14)]) == 3
    assert spool.dropped == 4
    assert len(spool) == 10
    assert spool.size_bytes <= 10 * (300 + 8)
    # Committing whole segments frees room again; the order is the order of acceptance.
    spool.commit(6)
    assert spool.append([record(100), record(101)]) == 2
    assert drain(spool) == [record(i) for i in range(6, 10)] + [record(100), record(101)]
    assert spool.dropped == 4


CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from microdial.mqtt.spool import Spool, SpoolError

    spool = Spool(Path(sys.argv[1]), segment_bytes=64 * 1024, sync_interval=0.01)
    written = 0
    while True:
        count = 1 + written % 13
        stored = spool.append([b"%08d" % (written + i) * 30 for i in range(count)])
        assert stored == count
        written += count
        # Appending 7 a round on average and committing 5 keeps a growing backlog on disk.
        batch = spool.peek(5)
        spool.commit(len(batch))
        print("committed", int(batch[-1][:8]) + 1, flush=True)
    """
)


def test_kill_9_then_reopen_loses_nothing_and_replays_no_commit(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    for attempt in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(directory)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        committed_lines = []
        for line in child.stdout:
            committed_lines.append(line)
            if len(committed_lines) >= 200 + 150 * attempt:
                break
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate()
        committed_lines.extend(rest.splitlines())
        last_committed = max(int(line.split()[1]) for line in committed_lines)

        spool = Spool(directory, segment_bytes=64 * 1024)
        records = drain(spool, batch=1000)
        spool.close()
        numbers = [int(r[:8]) for r in records]
        assert len(numbers) > 100
        for r, number in zip(records, numbers, strict=True):
            assert r == b"%08d" % number * 30, "a record must be whole or absent"
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), "in order, once each"
        # Everything the child saw committed is never replayed; at most its last peek (5) is.
        assert last_committed <= numbers[0] <= last_committed + 5
        # The next run numbers from 0 again, so the directory is emptied by drain() first.
        with Spool(directory) as empty:
            assert len(empty) == 0


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (the full-disk test needs root): {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)


def test_full_disk_stores_fewer_counts_dropped_and_keeps_what_was_written(tiny_disk: Path) -> None:
    spool = Spool(tiny_disk / "spool", segment_bytes=16 * 1024)
    stored = 0
    for start in range(0, 1000, 50):
        stored += spool.append([record(i) for i in range(start, start + 50)])
    assert 0 < stored < 1000
    assert spool.dropped == 1000 - stored
    assert len(spool) == stored
    assert spool.peek(stored) == [record(i) for i in range(stored)]

    # Committing frees whole segments, and then there is room again.
    spool.commit(stored)
    assert spool.append([record(5000)]) == 1
    spool.close()

    reopened = Spool(tiny_disk / "spool", segment_bytes=16 * 1024)
    assert reopened.peek(10) == [record(5000)]
    reopened.close()
    with contextlib.suppress(OSError):
        os.sync()
