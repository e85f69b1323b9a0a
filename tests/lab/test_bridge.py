"""Many sites, one study: a site Mosquitto bridged (persistent queue, QoS 1) to a central one, whose
recorder ends with every sample, none twice, in order, although the link was down mid-session."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from microdial.recorder import RecorderSettings, record
from microdial.store.format import SessionMeta
from tests.host.support import wait_for
from tests.lab.sites import Dials, Tail, two_sites

# The benchmark (benchmarks/bench_bridge.py) cuts the link for 60 s; the test for 20 s.
OUTAGE = 20.0


async def test_the_central_recorder_gets_every_sample_once_in_order_across_a_bridge_outage(
    tmp_path: Path, session_code: str
) -> None:
    out = tmp_path / "central"
    dials = Dials(session_code, count=8, rate_hz=100)
    tail = Tail(out / session_code, dials.names)
    async with two_sites() as (site, central, link):
        ready = asyncio.Event()
        settings = RecorderSettings(
            broker=central.url, out=out, session=session_code, client_id="central-rec"
        )
        recorder = asyncio.create_task(record(settings, ready=ready))
        await asyncio.wait_for(ready.wait(), 10)
        stop = asyncio.Event()
        publishing = asyncio.create_task(dials.publish(site.address, stop))
        try:
            await wait_for(
                lambda: tail.has(dict.fromkeys(dials.names, 100)), 20, "samples through the bridge"
            )
            await link.cut()
            cut_at = dict(dials.sent)
            await asyncio.sleep(OUTAGE)
            held = dict(dials.sent)
            tail.read()
            # Nothing crossed while the link was down (what was in flight may have).
            assert all(len(tail.seqs[d]) <= cut_at[d] + 40 for d in dials.names)
            await link.restore()
            restored = time.monotonic()
            await wait_for(lambda: tail.has(held), 60, "the centre to catch up")
            catch_up = time.monotonic() - restored
            await asyncio.sleep(2.0)
            stop.set()
            await publishing
            await wait_for(lambda: tail.has(dials.sent), 30, "the last samples")
        finally:
            stop.set()
            recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recorder
    tail.read()
    for dial in dials.names:
        assert tail.seqs[dial] == list(range(dials.sent[dial])), f"{dial}: not every sample once, in order"
    meta = SessionMeta.load(out / session_code)
    assert all(m.gaps == 0 and m.lost_samples == 0 for m in meta.dials.values())
    print(
        f"outage {OUTAGE:.0f} s: {sum(held.values()) - sum(cut_at.values())} samples held at the site; "
        f"caught up {catch_up:.2f} s after the link came back"
    )
