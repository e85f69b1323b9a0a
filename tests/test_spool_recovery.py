"""The broker is down, the daemon is killed with samples in its spool, a new daemon publishes them first."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from microdial.embedded_broker import MosquittoProcess
from tests.host.support import make_dial, wait_for
from tests.test_end_to_end import Collector


def start_daemon(link: Path, broker: MosquittoProcess, session: str, spool: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MICRODIAL_DAEMON_SPOOL_DIR": str(spool)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "microdial",
            "daemon",
            "--port",
            str(link),
            "--broker",
            broker.url,
            "--session",
            session,
            "--rater",
            "client",
            "--no-status",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_spooled_samples_survive_a_killed_daemon(
    mosquitto: MosquittoProcess, session_code: str, tmp_path: Path
) -> None:
    link, spool = tmp_path / "dial0", tmp_path / "spool"
    collector = Collector(mosquitto, session_code)
    collecting = asyncio.create_task(collector.run())
    await asyncio.wait_for(collector.ready.wait(), 10)
    dial, sent = make_dial("client", rate_hz=100, link=link)
    dial.start()
    first = start_daemon(link, mosquitto, session_code, spool)
    second = None
    try:
        await wait_for(lambda: len(collector.seqs.get("client", [])) > 100, 20, "samples before the outage")
        mosquitto.stop()
        await asyncio.sleep(1.5)  # about 150 samples go to the spool
        spooled_files = list(spool.rglob("*.seg"))
        killed_at = time.monotonic()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert spooled_files, "nothing was spooled while the broker was down"
        mosquitto.start()
        second = start_daemon(link, mosquitto, session_code, spool)
        restarted_at = time.monotonic()
        await wait_for(lambda: len(collector.seqs.get("client", [])) > 400, 30, "samples after the restart")
        dial.halt()  # the port stays open, so the daemon reads every sample written
        last = sent.samples[-1][0]
        await wait_for(lambda: last in collector.values.get("client", {}), 20, "the last sample")
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
        dial.stop()
        collecting.cancel()
        await asyncio.gather(collecting, return_exceptions=True)

    received = list(dict.fromkeys(collector.seqs["client"]))  # a redelivered batch may repeat
    assert received == sorted(received), "order was not kept"
    # Samples still in the kernel's pty buffer when the daemon died are gone with it; everything
    # the daemon had read — including the spooled outage — and everything after the restart arrives.
    must_arrive = [
        seq
        for seq, _, _ in sent.samples
        if seq >= received[0]
        and (sent.written_at[seq] < killed_at - 0.1 or sent.written_at[seq] > restarted_at + 1.0)
    ]
    missing = sorted(set(must_arrive) - set(received))
    assert not missing, f"{len(missing)} samples lost, first {missing[:5]}"
    outage = [seq for seq in must_arrive if sent.written_at[seq] < killed_at - 0.1]
    assert len(outage) > 200
