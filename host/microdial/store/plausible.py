"""Which samples the recorder trusts: anyone who can publish on a session's topics could otherwise
rewrite its record (one forged seq made session.json claim 173 million lost samples, one forged role
flipped a dial's role, NaN and 1e308 times were stored).

`verdict` is the rule, a pure function of one sample and what was kept before it; `Quarantine`
applies it to a session's incoming batches and keeps what fails in quarantine.csv (store/format.py),
counted by rule in session.json, so nothing is lost and nothing untrusted is counted.

The rules:
- time: every time is finite and within what a daemon can stamp (host_time between 2000 and an hour
  ahead of the recorder's clock, which leaves room for a lab PC whose clock is off).
- role: a sample's role is the one the session maps its dial to (a status, not a sample, changes it).
- seq-jump: a forward step of the sequence number cannot lose more samples than the dial could have
  sent since the last kept sample, at the highest rate a dial runs (1000 Hz) with a margin; a step
  back is a restart (a count from 0 no further than that) or a replayed older sample (no further
  back than its time says). Whatever else would be taken as a huge gap or a restart.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from pathlib import Path
from typing import NamedTuple, Protocol

import pyarrow as pa
from pydantic import ValidationError

from dialwire import SEQ_MODULO
from microdial.device.decoder import MAX_DEVICE_TIME_US
from microdial.device.sequence import HALF
from microdial.errors import RecordingError
from microdial.model import Sample
from microdial.store.format import (
    QUARANTINE_COLUMNS,
    QUARANTINE_FILE,
    QuarantinedRow,
    SessionMeta,
    csv_lines,
    quarantine_row,
    samples_file,
)
from microdial.store.reader import read_sample_columns
from microdial.store.writer import AppendFile

log = logging.getLogger(__name__)

EARLIEST_HOST_TIME = 946_684_800.0  # 2000-01-01 UTC
FUTURE_TOLERANCE = 3600.0
RATE_MAX_HZ = 1000
# Samples a dial may be ahead of the host's count with no time passing: a burst after a stall.
SEQ_SLACK = 2000
PAYLOAD_CHARS = 2000

# Each time field and its (lowest, highest) plausible value; host_time's upper bound moves with now.
_BOUNDS: dict[str, tuple[float, float]] = {
    "device_time": (0.0, MAX_DEVICE_TIME_US / 1e6),
    "host_monotonic": (0.0, 1e10),
    "media_time": (-1e7, 1e7),
    "media_duration": (0.0, 1e7),
    "sync_uncertainty": (0.0, 1e6),
}


class Kept(NamedTuple):
    """The last sample of a dial that was kept: what the next one is judged against."""

    seq: int
    host_time: float


class Verdict(NamedTuple):
    rule: str
    reason: str


def verdict(sample: Sample, last: Kept | None, role: str | None, now: float) -> Verdict | None:
    """None to keep the sample, or why not."""
    bounds = {**_BOUNDS, "host_time": (EARLIEST_HOST_TIME, now + FUTURE_TOLERANCE)}
    for field, (low, high) in bounds.items():
        value = getattr(sample, field)
        if value is None:
            continue
        if not math.isfinite(value):
            return Verdict("time", f"{field} {value} is not finite")
        if not low <= value <= high:
            return Verdict("time", f"{field} {value!r} is outside {low!r}..{high!r}")
    if role is not None and sample.role != role:
        return Verdict("role", f"role {sample.role} contradicts the session's {sample.dial} = {role}")
    if last is not None:
        return _sequence(sample, last)
    return None


def _possible(elapsed: float) -> float:
    """Samples a dial can send in elapsed seconds, with a margin."""
    return SEQ_SLACK + 1.25 * RATE_MAX_HZ * max(0.0, elapsed)


def _sequence(sample: Sample, last: Kept) -> Verdict | None:
    step = (sample.seq - last.seq) % SEQ_MODULO
    elapsed = sample.host_time - last.host_time
    if 0 < step < HALF:
        if step - 1 <= _possible(elapsed):
            return None
        claim = f"{step - 1} samples lost"
    else:
        # A step back is a dial that restarted its count (from 0, so no further than it could count
        # since), or a sample from before the last one (a replay: as far back as its time says).
        if sample.seq <= _possible(elapsed) or (SEQ_MODULO - step) % SEQ_MODULO <= _possible(-elapsed):
            return None
        claim = "a restart or a replay"
    return Verdict(
        "seq-jump",
        f"seq {sample.seq} after {last.seq} would mean {claim} in {elapsed:.3f} s",
    )


class Session(Protocol):
    """What the gate needs of a session being written (store.writer.SessionRecord)."""

    folder: Path
    meta: SessionMeta
    meta_changed: bool


class Quarantine:
    """A session's gate: its incoming samples sorted into trusted and quarantined.

    Judged against the last kept sample of each dial, rebuilt from the samples file when a dial is
    first seen (after a restart), and against the session's role mapping in meta, which the writer
    keeps. The counts live in meta.quarantined; the caller saves meta (meta_changed)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._kept: dict[str, Kept | None] = {}
        self._file: AppendFile | None = None

    def sort(self, dial: str, samples: list[Sample], now: float | None = None) -> list[Sample]:
        """The samples to keep, in order; the others are in quarantine.csv."""
        now = time.time() if now is None else now
        last = self._kept[dial] if dial in self._kept else self._rebuild(dial)
        known = self.session.meta.dials.get(dial)
        role = known.role if known is not None else None
        kept: list[Sample] = []
        for sample in samples:
            why = verdict(sample, last, role, now)
            if why is None:
                kept.append(sample)
                last, role = Kept(sample.seq, sample.host_time), sample.role
            else:
                self._keep_apart(now, dial, why, sample.seq, sample.model_dump_json())
        self._kept[dial] = last
        return kept

    def reject(self, dial: str, payload: bytes, reason: str) -> None:
        """A payload on a dial's samples topic that is not valid samples (a NaN time, ...)."""
        text = payload[:PAYLOAD_CHARS].decode("utf-8", "replace")
        self._keep_apart(time.time(), dial, Verdict("invalid", reason), None, text)

    def _rebuild(self, dial: str) -> Kept | None:
        path = self.session.folder / samples_file(dial)
        if not path.exists():
            return None
        try:
            table = read_sample_columns(path, {"seq": pa.int64(), "host_time": pa.float64()})
        except RecordingError:
            return None  # the writer reports it
        if table.num_rows == 0:
            return None
        return Kept(table.column("seq")[-1].as_py(), table.column("host_time")[-1].as_py())

    def _keep_apart(self, now: float, dial: str, why: Verdict, seq: int | None, payload: str) -> None:
        if self._file is None:
            header = csv_lines([list(QUARANTINE_COLUMNS)])
            self._file = AppendFile(self.session.folder / QUARANTINE_FILE, header)
        row = QuarantinedRow(
            received=now, dial=dial, rule=why.rule, reason=why.reason, seq=seq, payload=payload
        )
        self._file.append([quarantine_row(row)])
        counts = self.session.meta.quarantined
        counts[why.rule] = counts.get(why.rule, 0) + 1
        self.session.meta_changed = True
        # The 1st, 10th, 100th ... of a rule: said, without a flood of forged samples flooding the log.
        if math.log10(counts[why.rule]).is_integer():
            log.warning(
                "%s: %d kept apart in %s by rule %s; the latest from %s: %s",
                self.session.meta.session,
                counts[why.rule],
                QUARANTINE_FILE,
                why.rule,
                dial,
                why.reason,
            )

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def sync(self) -> None:
        if self._file is not None:
            self._file.sync()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_quarantine(path: Path) -> list[QuarantinedRow]:
    """quarantine.csv back as rows (for reports and tests)."""
    with path.open(newline="") as handle:
        try:
            return [
                QuarantinedRow.model_validate(
                    {k: v or None for k, v in row.items()} | {"payload": row["payload"]}
                )
                for row in csv.DictReader(handle)
            ]
        except ValidationError as err:
            raise RecordingError(f"{path} is not a quarantine file: {err.errors()[0]['msg']}") from None
