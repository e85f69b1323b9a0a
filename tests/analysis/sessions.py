"""Writes generated ratings as real recorder session folders (store.format, byte for byte)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from microdial.model import Sample
from microdial.store.format import SAMPLE_COLUMNS, DialMeta, SessionMeta, csv_lines, samples_file

HOST_T0 = 1_763_700_000.0


@dataclass
class DialTrace:
    dial: str
    role: str
    host_time: npt.NDArray[np.float64]
    value: npt.NDArray[np.int64]
    media_time: npt.NDArray[np.float64] | None = None  # None: no player clock
    playback: Sequence[str | None] | None = None
    discontinuity: npt.NDArray[np.bool_] | None = None
    extra: dict[str, object] = field(default_factory=dict)


def rows(trace: DialTrace, session: str) -> list[list[object]]:
    n = trace.host_time.size
    media = trace.media_time
    playback = trace.playback if trace.playback is not None else [None if media is None else "playing"] * n
    disc = trace.discontinuity if trace.discontinuity is not None else np.zeros(n, dtype=bool)
    out: list[list[object]] = []
    for i in range(n):
        m = None if media is None or np.isnan(media[i]) else float(media[i])
        row = {
            "dial": trace.dial,
            "role": trace.role,
            "session": session,
            "participant": None,
            "value": int(trace.value[i]),
            "seq": i % 65536,
            "device_time": float(trace.host_time[i] - HOST_T0),
            "host_time": float(trace.host_time[i]),
            "host_monotonic": float(trace.host_time[i] - HOST_T0 + 1000.0),
            "media_time": m,
            "sync_uncertainty": 0.0005,
            "playback": playback[i],
            "player": None if playback[i] is None else "mpv",
            "media": None if m is None else "session.mp4",
            "media_duration": None,
            "discontinuity": bool(disc[i]),
            "boot": None,
        }
        out.append([row[column] for column in SAMPLE_COLUMNS])
    if out:
        # The first row goes through the real payload model so the helper cannot drift from it.
        Sample.model_validate(dict(zip(SAMPLE_COLUMNS, out[0], strict=True)))
    return out


def write_session(folder: Path, session: str, traces: Sequence[DialTrace]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    meta = SessionMeta(session=session)
    for trace in traces:
        name = samples_file(trace.dial)
        with (folder / name).open("w", newline="") as handle:
            handle.write(",".join(SAMPLE_COLUMNS) + "\n")
            handle.write(csv_lines(rows(trace, session)))
        meta.dials[trace.dial] = DialMeta(role=trace.role, samples_file=name, samples=trace.host_time.size)
    meta.save(folder)
    return folder


def played(
    dial: str,
    role: str,
    curve: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]],
    duration: float,
    rate: float = 50.0,
    media: bool = True,
    jitter: float = 0.0,
    seed: int = 0,
) -> DialTrace:
    """A dial rating a video played straight through: value = round(curve(media seconds))."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, duration, 1.0 / rate)
    if jitter:
        t = np.sort(t + rng.uniform(0, jitter, t.size))
    value = np.clip(np.round(curve(t)), -50, 50).astype(np.int64)
    return DialTrace(dial, role, HOST_T0 + 3.0 + t, value, media_time=t.copy() if media else None)


def per_second(
    values: npt.NDArray[np.float64],
) -> Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]:
    """A curve that is constant within each media second, so the grid must return `values` exactly."""

    def curve(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return values[np.minimum(np.floor(t).astype(np.int64), values.size - 1)]

    return curve
