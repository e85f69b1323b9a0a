"""The decoder on 10 MB of random and mutated records: records/s, bytes/s, and proof that no bad
record changed any state (issue 13).

Run: python benchmarks/bench_fuzz.py [--mb 10] [--seed 0]

The stream interleaves intact records (samples numbered 0, 1, 2, ... and heartbeats) with bad ones:
- random bytes (with the framing characters $ * \\r \\n among them);
- mutated copies of records: a byte flipped, cut short, or two records spliced;
- forged records, intact by their check value but with numbers no dial sends: a value of 999, a
  device time of -5 us or beyond 2**48 us, a sequence number at the modulus, digits that are not
  ASCII (Arabic-Indic).
Every bad record is made from a sample numbered from 500 000 000 on, so one that got through would
show as a gap. It is fed in pieces of random size, as a serial port delivers it. The check: the
decoder hands on exactly the intact records, in order, and its sequence counter has seen every
intact sample and no gap.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialwire import SEQ_MODULO, crc16, encode
from microdial.device.decoder import MAX_DEVICE_TIME_US, Decoder, Heartbeat, Record, SampleRecord

BAD_BASE = 500_000_000
FRAMING = b"$*\r\n,"
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def forged(body: str) -> bytes:
    """A record whose check value is right for a body no dial sends."""
    data = body.encode()
    return b"$" + data + b"*" + b"%04X" % crc16(data) + b"\r\n"


def bad_record(rng: random.Random, n: int) -> tuple[str, bytes]:
    """(what kind of damage, the bytes) for the n-th bad record."""
    seq, t_us = BAD_BASE + n, 1_000_000 + 10_000 * n
    original = encode("S", (seq, t_us, rng.randint(-50, 50)))
    how = rng.choice(("random", "flip", "truncate", "splice", "forged"))
    if how == "random":
        size = rng.randint(1, 80)
        return how, bytes(
            rng.choice(FRAMING) if rng.random() < 0.1 else rng.randrange(256) for _ in range(size)
        )
    if how == "flip":
        # Not in the line end: a \r flipped to \n leaves the same record (the \r is optional).
        data = bytearray(original)
        at = rng.randrange(len(data) - 2)
        data[at] ^= rng.randint(1, 255)
        return how, bytes(data)
    # Cut into the check value at least, so what follows cannot complete the record again (a
    # cut of the line end alone, followed by a line end, is the record itself).
    if how == "truncate":
        return how, original[: rng.randrange(1, len(original) - 3)]
    if how == "splice":
        other = encode("HB", (t_us + 5, seq + 1, 0))
        # At least the kind of each is kept: "$" + "HB,..." would be the other record whole.
        head = original[: rng.randrange(2, len(original) - 3)]
        return how, head + other[rng.randrange(2, len(other) - 3) :]
    body = rng.choice(
        (
            f"S,{seq},{t_us},999",
            f"S,{seq},-5,0",
            f"S,{seq},{MAX_DEVICE_TIME_US + 1},0",
            f"S,{SEQ_MODULO},{t_us},0",
            f"S,{seq},{t_us},1".translate(ARABIC_INDIC),
            f"HB,{t_us},{SEQ_MODULO + 7},0",
        )
    )
    return how, forged(body)


def stream(total: int, rng: random.Random) -> tuple[bytes, list[Record], dict[str, int]]:
    """(bytes of about total, the intact records in it in order, bad records by kind of damage)."""
    parts: list[bytes] = []
    intact: list[Record] = []
    damage: dict[str, int] = {}
    size = seq = bad = 0
    while size < total:
        if rng.random() < 0.5:
            how, data = bad_record(rng, bad)
            bad += 1
            damage[how] = damage.get(how, 0) + 1
        else:
            t_us = 1_000_000 + 10_000 * seq
            record: Record
            if len(intact) % 50 == 49:
                # A heartbeat after every 49 samples: it repeats the last number, it takes none.
                record = Heartbeat(t_us, seq - 1, 0)
                data = encode("HB", (record.t_us, record.last_seq, record.value))
            else:
                record = SampleRecord(seq, t_us, seq % 101 - 50)
                data = encode("S", (record.seq, record.t_us, record.value))
                seq += 1
            intact.append(record)
        parts.append(data)
        size += len(data)
    # A bad record cut short or random keeps no line end: the next intact record's '$' starts
    # afresh (the framer takes the last '$' of a line), so only bad records can be swallowed.
    return b"".join(parts), intact, damage


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=10.0, help="megabytes of stream")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    data, intact, damage = stream(int(args.mb * 1_000_000), rng)
    cuts = sorted({0, len(data), *(rng.randrange(len(data)) for _ in range(len(data) // 2048))})
    pieces = [data[a:b] for a, b in itertools.pairwise(cuts)]

    decoder = Decoder()
    out: list[Record] = []
    start = time.perf_counter()
    for piece in pieces:
        for record in decoder.feed(piece):
            out.append(record)
            if isinstance(record, SampleRecord):
                decoder.check_sequence(record)  # as the dial's session does
    elapsed = time.perf_counter() - start

    records = len(intact) + sum(damage.values())
    print(
        f"{len(data) / 1e6:.1f} MB, {records} records ({len(intact)} intact, {sum(damage.values())} bad: ",
        end="",
    )
    print(", ".join(f"{count} {how}" for how, count in sorted(damage.items())) + f") in {len(pieces)} pieces")
    print(
        f"decoded in {elapsed:.2f} s: {records / elapsed:,.0f} records/s, {len(data) / elapsed / 1e6:.2f} MB/s"
    )
    print(
        f"decoder counters: bad_records {decoder.bad_records} (implausible {decoder.implausible}), "
        f"unexpected {decoder.unexpected}, skipped_bytes {decoder.skipped_bytes}, "
        f"samples {decoder.samples}, gaps {decoder.gaps}, lost {decoder.lost_samples}"
    )
    intact_samples = sum(isinstance(r, SampleRecord) for r in intact)
    failures = []
    if out != intact:
        sent = set(intact)
        extra = [r for r in out if r not in sent]
        failures.append(f"{len(extra)} records handed on that were not sent intact, e.g. {extra[:3]}")
        failures.append(f"{len(intact) - (len(out) - len(extra))} intact records not handed on")
    if (decoder.samples, decoder.gaps, decoder.lost_samples) != (intact_samples, 0, 0):
        failures.append("the sequence counter changed by a bad record")
    for failure in failures:
        print(f"FAIL: {failure}")
    if not failures:
        print("OK: exactly the intact records came out, in order; no bad record changed any state")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
