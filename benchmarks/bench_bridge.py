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
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.lab.sites import Dials, run_outage


async def bench(outage: float, count: int, rate: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dials = Dials("BRIDGE", count=count, rate_hz=rate)
        result = await run_outage(Path(tmp) / "central", "BRIDGE", outage, dials, warmup=5.0)
    for fault in result.faults():
        print(fault, flush=True)
    print(
        f"{count} dials x {rate} Hz, link down {outage:.0f} s ({outage * count * rate:.0f} samples, "
        f"{outage * count * rate / dials.batch:.0f} messages held at the site): the centre caught up "
        f"{result.catch_up:.2f} s after the link returned (the bridge reconnected after {result.reconnect:.2f} s, "
        f"its backoff); {sum(result.sent.values())} samples in all, every one there once: {not result.faults()}; "
        f"arrived after a later one: {result.late() or 'none'}; QoS 1 redeliveries the recorder dropped: "
        f"{result.duplicates_dropped}",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--outage", type=float, default=60.0)
    parser.add_argument("--dials", type=int, default=8)
    parser.add_argument("--rate", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(bench(args.outage, args.dials, args.rate))
