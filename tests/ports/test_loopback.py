"""The in-process loopback between the real firmware and the host (the demo where there are no ptys)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from microdial.device.runner import DialRunner, RunnerOptions
from microdial.device.transports.loopback import LoopbackPort, LoopbackTransport
from microdial.embedded_broker import MosquittoProcess
from microdial.sim.rater import RandomRater
from microdial.sim.runner import SimulatedDial
from microdial.sinks.memory import MemorySink
from microdial.store.format import SessionMeta
from tests.host.support import SentLog, csv_rows, wait_for

FAST = RunnerOptions(reopen_min=0.05, reopen_max=0.2, status_interval=0.2)
ROOT = Path(__file__).resolve().parents[2]


async def test_every_sample_of_the_firmware_arrives_in_order_through_the_loopback() -> None:
    port, sent, sink = LoopbackPort("client"), SentLog(), MemorySink()
    dial = SimulatedDial(RandomRater("client", seed=4), rate_hz=200, seed=4, on_write=sent, port=port)
    assert dial.start() == "loopback:client"
    runner = DialRunner(lambda: LoopbackTransport(port), "S1", "client", lambda key: sink, options=FAST)
    task = asyncio.create_task(runner.run())
    try:
        await wait_for(lambda: len(sink.samples) >= 400, what="400 samples")
        dial.halt()
        await wait_for(lambda: sink.samples[-1].seq == sent.samples[-1][0], what="the last sample")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        dial.stop()
    received = [(s.seq, s.value) for s in sink.samples]
    assert received == [(seq, value) for seq, _, value in sent.samples if seq >= received[0][0]]
    # IDENT and the clock-sync PINGs went the other way: the dial identified itself and was mapped.
    assert runner.identity is not None and runner.identity.device == dial.device_id
    assert runner.decoder.bad_records == 0 and runner.decoder.lost_samples == 0
    assert not port.connected  # the transport let go when the runner stopped


def test_the_demo_uses_the_loopback_where_there_are_no_ptys(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    # As on Windows: no os.openpty, no tty module. (fcntl stays: mqtt/spool.py still needs it.)
    script = (
        "import os, sys; del os.openpty; sys.modules['tty'] = None\n"
        "from microdial.cli import main; sys.exit(main())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "demo", "--broker", mosquitto.url, "--out", str(tmp_path),
         "--session", "LOOP", "--duration", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "on loopback:client" in result.stdout and "on loopback:therapist" in result.stdout
    meta = SessionMeta.load(tmp_path / "LOOP")
    assert sorted(dial.role for dial in meta.dials.values()) == ["client", "therapist"]
    for dial in meta.dials.values():
        assert len(csv_rows(tmp_path / "LOOP" / dial.samples_file)) > 50
