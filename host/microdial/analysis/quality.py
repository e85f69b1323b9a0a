"""How complete a session's data is: what each dial recorded and lost, where the gaps fall in the
video, when playback was paused and which stretches were watched twice, and the share of seconds
rated. From the counters in session.json and the recorder's events, as store.reader gives them.
"""

from __future__ import annotations

import re

import numpy as np
from pydantic import BaseModel, ConfigDict

from microdial.analysis.grid import Grid
from microdial.store.format import STILL, RecordedEvent
from microdial.store.reader import Session

# A backward jump shorter than this is the player's own position jitter, not a re-watch.
REWATCH_MIN = 0.5
_LOST = re.compile(r"(\d+) samples lost")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class DialQuality(_Model):
    dial: str
    role: str
    source: str | None  # None: a live dial; "import:<format>" otherwise
    samples: int
    lost_samples: int
    gaps: int
    duplicates_dropped: int
    device_dropped: int | None  # the daemon's count of records the dial itself dropped
    seconds_rated: int
    share_rated: float | None  # of the session's seconds


class Gap(_Model):
    dial: str
    media_time: float | None
    lost: int | None


class Span(_Model):
    start: float | None  # media time
    end: float | None
    seconds: float | None  # how long it lasted (pauses: wall-clock seconds)


class DataQuality(_Model):
    dials: list[DialQuality]
    gaps: list[Gap]
    paused: list[Span]
    rewatched: list[Span]


def _paused(events: list[RecordedEvent]) -> list[Span]:
    """Pauses seen by the first dial that saw any: every dial sees the same player."""
    changes = [e for e in events if e.kind == "playback"]
    dial = next((e.dial for e in changes), None)
    spans: list[Span] = []
    opened: RecordedEvent | None = None
    for event in (e for e in changes if e.dial == dial):
        if event.detail in STILL and opened is None:
            opened = event
        elif event.detail not in STILL and opened is not None:
            spans.append(
                Span(
                    start=opened.media_time, end=event.media_time, seconds=event.host_time - opened.host_time
                )
            )
            opened = None
    if opened is not None:
        spans.append(Span(start=opened.media_time, end=None, seconds=None))
    return spans


def _rewatched(session: Session) -> list[Span]:
    """Stretches watched again after a seek backwards, from the first dial with a media time."""
    for samples in session.dials:
        media = samples.media_time
        known = np.isfinite(media)
        if not known.any():
            continue
        m = media[known]
        reached = np.maximum.accumulate(m)
        back = np.flatnonzero(m[1:] < m[:-1] - REWATCH_MIN) + 1
        return [
            Span(start=float(m[i]), end=float(reached[i - 1]), seconds=float(reached[i - 1] - m[i]))
            for i in back
        ]
    return []


def data_quality(session: Session, grid: Grid) -> DataQuality:
    events = session.events()
    dials = []
    for samples in session.dials:
        meta = session.meta.dials[samples.dial]
        rated = [s for s in grid.raters if s.dial == samples.dial]
        seconds_rated = int(np.isfinite(rated[0].value).sum()) if rated else 0
        dials.append(
            DialQuality(
                dial=samples.dial,
                role=samples.role,
                source=meta.source,
                samples=int(samples.value.size),
                lost_samples=meta.lost_samples,
                gaps=meta.gaps,
                duplicates_dropped=meta.duplicates_dropped,
                device_dropped=None if meta.counters is None else meta.counters.device_dropped_records,
                seconds_rated=seconds_rated,
                share_rated=seconds_rated / grid.seconds.size if grid.seconds.size else None,
            )
        )
    gaps = []
    for event in events:
        if event.kind == "gap" and event.dial is not None:
            lost = _LOST.match(event.detail)
            gaps.append(
                Gap(dial=event.dial, media_time=event.media_time, lost=int(lost[1]) if lost else None)
            )
    return DataQuality(dials=dials, gaps=gaps, paused=_paused(events), rewatched=_rewatched(session))
