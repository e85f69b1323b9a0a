"""Many sites: how long the central recorder takes to catch up after the site-centre link was down.

    python benchmarks/bench_bridge.py [--outage 60] [--dials 8] [--rate 100]

Two real Mosquitto processes, the site bridged to the centre (bridge.site_bridge: persistent
queue, QoS 1) through a TCP link that is cut (tests/lab/sites.py); daemon-like publishers at the
site (2-sample batches at QoS 1); `microdial record`'s loop at the centre. After a warm-up the link
is cut for --outage seconds while the dials go on; catch-up is the time from the link's return
until the centre's files hold every sample published before it (the dials keep streaming
meanwhile). Then every sample must be there once, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from microdial.recorder import RecorderSettings, record
from microdial.store.format import SessionMeta
from tests.host.support import wait_for
from tests.lab.sites import Dials, Tail, two_sites


async def bench(outage: float, dials_count: int, rate: int) -> None:
    session = "BRIDGE"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "central"
        dials = Dials(session, count=dials_count, rate_hz=rate)
        tail = Tail(out / session, dials.names)
        async with two_sites() as (site, central, link):
            ready = asyncio.Event()
            recorder = asyncio.create_task(
                record(
                    RecorderSettings(broker=central.url, out=out, session=session, client_id="central"),
                    ready=ready,
                )
            )
            await asyncio.wait_for(ready.wait(), 10)
            stop = asyncio.Event()
            publishing = asyncio.create_task(dials.publish(site.address, stop))
            try:
                await wait_for(lambda: tail.has(dict.fromkeys(dials.names, 5 * rate)), 30, "warm-up")
                await link.cut()
                await asyncio.sleep(outage)
                held = dict(dials.sent)
                await link.restore()
                restored = time.monotonic()
                await wait_for(lambda: tail.has(held), 600, "catch-up")
                catch_up = time.monotonic() - restored
                stop.set()
                await publishing
                await wait_for(lambda: tail.has(dials.sent), 120, "the last samples")
            finally:
                stop.set()
                recorder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await recorder
        tail.read()
        exact = all(tail.seqs[d] == list(range(dials.sent[d])) for d in dials.names)
        for dial in dials.names:
            got = tail.seqs[dial]
            if got != list(range(dials.sent[dial])):
                missing = sorted(set(range(dials.sent[dial])) - set(got))
                twice = len(got) - len(set(got))
                back = sum(1 for a, b in itertools.pairwise(got) if b < a)
                print(f"{dial}: missing {missing[:10]}, {twice} twice, {back} steps back", flush=True)
        meta = SessionMeta.load(out / session)
        duplicates = sum(m.duplicates_dropped for m in meta.dials.values())
    print(
        f"{dials_count} dials x {rate} Hz, link down {outage:.0f} s ({outage * dials_count * rate:.0f} samples, "
        f"{outage * dials_count * rate / dials.batch:.0f} messages held at the site): the centre caught up "
        f"{catch_up:.2f} s after the link returned; {sum(dials.sent.values())} samples in all, every one once "
        f"and in order: {exact}; QoS 1 redeliveries the recorder dropped: {duplicates}",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--outage", type=float, default=60.0)
    parser.add_argument("--dials", type=int, default=8)
    parser.add_argument("--rate", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(bench(args.outage, args.dials, args.rate))
