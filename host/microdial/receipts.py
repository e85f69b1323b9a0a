"""The recorder's side of end-to-end delivery (protocol/SPEC.md 3.5): in order, gaps asked for, confirmations.

A batch that names its place in a daemon's journal is written only once everything before it
was; one that comes early waits in memory (bounded: beyond that it is dropped, and the daemon
sends it again) while the daemon is asked for exactly the missing range. After each sync the
recorder confirms, per dial, how far it holds each journal: retained, so a daemon that starts
later knows at once, and again every sync while the dial's journal moved in the last ten
minutes, which tells the daemon the recorder is alive and where it stands.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from microdial.model import Confirmation, ReplayRequest, Sample, SampleBatch
from microdial.mqtt.topics import confirmed_topic, replay_topic
from microdial.store.writer import SessionRecord

# Seconds before a gap still open is asked for again (the replay itself, or the request, may be lost).
ASK_AGAIN = 5.0


class Receipts:
    def __init__(self, ident: str, window: int) -> None:
        self.ident = ident
        self.window = window
        # (session, dial, journal) -> batches that came before the gap ahead of them was filled
        self._early: dict[tuple[str, str, str], dict[int, list[Sample]]] = {}
        self._asked: dict[tuple[str, str, str], tuple[int, float]] = {}  # last replay asked: (start, when)
        self._touched: dict[tuple[str, str], float] = {}  # (session, dial) -> when its journal last moved
        # What to publish (topic, payload, retain): replay requests at once, confirmations after each sync.
        self.outbox: list[tuple[str, bytes, bool]] = []

    def in_order(self, record: SessionRecord, dial: str, batch: SampleBatch) -> list[list[Sample]]:
        """The runs of the batch (and of earlier ones it unblocks) that follow what was written."""
        journal, first = batch.journal, batch.first
        if journal is None or first is None:
            return [batch.samples]  # a publisher without a journal: as it comes
        session = record.meta.session
        positions = record.positions.setdefault(dial, {})
        key = (session, dial, journal)
        done = positions.get(journal)
        if done is None or (batch.head is not None and batch.head > done):
            # A journal new to this recorder starts where every recorder the daemon waits for
            # stands; what lies below that is gone from it, and the sequence numbers count it lost.
            done = batch.head or 0
        self._touched[session, dial] = time.monotonic()
        early = self._early.setdefault(key, {})
        if first > done:
            if sum(map(len, early.values())) < self.window:
                early[first] = batch.samples
            self._ask(key, done, first)
            positions[journal] = done
            return []
        runs: list[list[Sample]] = []
        early[first] = batch.samples
        while early:
            start = min(early)
            if start > done:
                self._ask(key, done, start)
                break
            samples = early.pop(start)
            fresh = samples[done - start :]
            record.dial(dial, samples[0].role).meta.duplicates_dropped += len(samples) - len(fresh)
            if fresh:
                runs.append(fresh)
                done = start + len(samples)
        positions[journal] = done
        record.meta_changed = True
        return runs

    def _ask(self, key: tuple[str, str, str], start: int, stop: int) -> None:
        """Ask the daemon for [start, stop) again, unless the same was asked a moment ago."""
        asked = self._asked.get(key)
        now = time.monotonic()
        if asked is not None and asked[0] == start and now - asked[1] < ASK_AGAIN:
            return
        self._asked[key] = (start, now)
        session, dial, journal = key
        request = ReplayRequest(
            recorder=self.ident, session=session, dial=dial, journal=journal, start=start, stop=stop
        )
        self.outbox.append(
            (replay_topic(session, dial, self.ident), request.model_dump_json().encode(), False)
        )

    def confirm(self, sessions: Mapping[str, SessionRecord], keep: float = 600.0) -> None:
        """After a sync: the retained confirmation of every dial whose journal moved lately."""
        now = time.monotonic()
        for (session, dial), when in list(self._touched.items()):
            record = sessions.get(session)
            if record is None or now - when > keep:
                del self._touched[session, dial]
                continue
            confirmation = Confirmation(
                recorder=self.ident,
                session=session,
                dial=dial,
                journals=record.positions.get(dial, {}),
                host_time=time.time(),
            )
            topic = confirmed_topic(session, dial, self.ident)
            self.outbox.append((topic, confirmation.model_dump_json().encode(), True))
