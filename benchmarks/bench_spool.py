"""On-disk spool throughput: append + peek + commit of 300-byte records, as the MQTT sink uses it.

The daemon's worst case is 8 dials × 100 Hz = 800 records/s while the broker is away, and then
draining the backlog as fast as the broker acknowledges. Prints records/s for both phases.

    python benchmarks/bench_spool.py [--records 200000] [--batch 500] [--dir PATH]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from microdial.mqtt.spool import Spool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500, help="records per append / peek / commit")
    parser.add_argument("--dir", type=Path, default=None, help="where to spool (default: a temp dir)")
    args = parser.parse_args()
    record = b'{"seq":123456,"pad":"' + b"x" * 277 + b'"}'
    assert len(record) == 300
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        spool = Spool(Path(directory) / "spool")
        batches = [[record] * args.batch for _ in range(args.records // args.batch)]

        started = time.perf_counter()
        for batch in batches:
            spool.append(batch)
        spool.sync()
        append_s = time.perf_counter() - started

        started = time.perf_counter()
        drained = 0
        while records := spool.peek(args.batch):
            spool.commit(len(records))
            drained += len(records)
        drain_s = time.perf_counter() - started

        # Interleaved, as during a flapping broker: each batch appended, peeked and committed.
        started = time.perf_counter()
        for batch in batches:
            spool.append(batch)
            spool.commit(len(spool.peek(args.batch)))
        mixed_s = time.perf_counter() - started
        spool.close()

    total = len(batches) * args.batch
    print(f"records: {total} × 300 B, batch {args.batch}, directory on {args.dir or tempfile.gettempdir()}")
    print(f"append (then fsync):         {total / append_s:12,.0f} records/s")
    print(f"peek + commit (drain):       {drained / drain_s:12,.0f} records/s")
    print(f"append + peek + commit:      {total / mixed_s:12,.0f} records/s")
    print("needed: 800 records/s sustained (8 dials × 100 Hz)")


if __name__ == "__main__":
    main()
