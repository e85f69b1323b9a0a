"""Session folders as a BIDS dataset (`microdial export --bids DIR`), for labs that archive in BIDS.

Layout. A continuous rating has no neural recording beside it, so it lives in the `beh` data type
("Behavioral experiments (with no neural recordings)", BIDS 1.9 §Modality specific files), and a
behavioural *continuous* measure is written as the spec's "Physiological and other continuous
recordings" prescribe (§Modality specific files: Physiological and other continuous recordings,
whose `_physio` suffix the beh data type allows): a headerless gzipped TSV plus a JSON sidecar
with SamplingFrequency, StartTime and Columns, and a column's Units and Description. `_beh.tsv`
is for tables of trials with a header line, not for a signal sampled at a rate. So each rater's
recording of a session is

    sub-<rater>/ses-<session>/beh/sub-<rater>_ses-<session>_task-rating_recording-dial_physio.tsv.gz
                                  ..._recording-dial_physio.json
                                  sub-<rater>_ses-<session>_task-rating_events.tsv

with dataset_description.json, README, participants.tsv/.json and task-rating_events.json at the
top. A rater is the participant code given to the daemon, or else the role (plus the dial id when
two dials share a role); BIDS labels are letters and digits only, so other characters are dropped.

Signal. The dial's samples, held from each sample to the next (as the grid holds them), sampled at
the dial's rate on a regular clock from its first sample; an instant more than MAX_HOLD after the
last sample is n/a (lost data stays a gap). Columns: the rating, the video's media time (n/a
without a player) and whether the video stood still. Time zero of StartTime and of the events'
onsets is the session's first sample across all raters (store.reader.Timeline's origin).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from microdial import __version__
from microdial.errors import RecordingError
from microdial.store.format import Scale
from microdial.store.reader import DialSamples, Session, read_sample_columns, read_session

BIDS_VERSION = "1.9.0"
TASK = "rating"
RECORDING = "dial"
# Longest a value holds past its sample before the signal is n/a.
MAX_HOLD = 0.5


def label(text: str) -> str:
    """A BIDS label (letters and digits only) from a code."""
    cleaned = re.sub(r"[^A-Za-z0-9]", "", text)
    if not cleaned:
        raise RecordingError(f"{text!r} leaves no letters or digits for a BIDS label")
    return cleaned


def _participant(session: Session, dial: DialSamples) -> str | None:
    table = read_sample_columns(
        session.folder / session.meta.dials[dial.dial].samples_file, {"participant": pa.string()}
    )
    codes = [code for code in table.column("participant").drop_null().unique().to_pylist() if code]
    return str(codes[0]) if len(codes) == 1 else None


def raters(session: Session) -> dict[str, DialSamples]:
    """BIDS subject label -> the dial that rater rated with, in this session."""
    shared = {role for role, dials in session.meta.roles.items() if len(dials) > 1}
    found: dict[str, DialSamples] = {}
    for dial in session.dials:
        if not dial.host_time.size:
            continue
        person = _participant(session, dial)
        name = label(person or (dial.role + dial.dial if dial.role in shared else dial.role))
        if name in found:
            raise RecordingError(f"session {session.meta.session}: two dials would both be sub-{name}")
        found[name] = dial
    return found


def _rate(session: Session, dial: DialSamples) -> float:
    rate = session.meta.dials[dial.dial].rate_hz
    if rate:
        return float(rate)
    steps = np.diff(dial.host_time)
    steps = steps[steps > 0]
    return float(round(1 / float(np.median(steps)))) if steps.size else 1.0


def _cell(value: float, digits: int) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.{digits}f}"


def signal(dial: DialSamples, rate: float) -> tuple[float, list[str]]:
    """(time of the first row on the host clock, the headerless TSV lines) of one dial."""
    start = float(dial.host_time[0])
    count = int(np.floor((float(dial.host_time[-1]) - start) * rate)) + 1
    at = start + np.arange(count) / rate
    index = np.searchsorted(dial.host_time, at + 1e-9, side="right") - 1
    held = at - dial.host_time[index] <= max(MAX_HOLD, 2 / rate)
    value = np.where(held, dial.value[index], np.nan)
    media = np.where(held, dial.media_time[index], np.nan)
    still = np.where(held, dial.still[index].astype(np.float64), np.nan)
    lines = [
        f"{_cell(v, 0)}\t{_cell(m, 3)}\t{_cell(s, 0)}" for v, m, s in zip(value, media, still, strict=True)
    ]
    return start, lines


def sidecar(scale: Scale, rate: float, start: float, firmware: str | None) -> dict[str, object]:
    labels = {str(point): text for point, text in sorted(scale.labels.items())}
    return {
        "SamplingFrequency": rate,
        "StartTime": round(start, 6),
        "Columns": ["rating", "media_time", "still"],
        "Manufacturer": "microdial",
        "SoftwareVersions": firmware or "unknown",
        "rating": {
            "LongName": "Continuous rating",
            "Description": (
                f"The rater's dial, on the scale {scale.min}..{scale.max} ("
                + "; ".join(f"{point} = {text}" for point, text in labels.items())
                + "), held from each sample to the next; n/a where no sample came within "
                f"{MAX_HOLD} s."
            ),
            "Units": "arbitrary",
            "ScaleMinimum": scale.min,
            "ScaleMaximum": scale.max,
            "ScaleLabels": labels,
        },
        "media_time": {
            "LongName": "Media time",
            "Description": "Position in the rated video when the dial was read; n/a without a player.",
            "Units": "s",
        },
        "still": {
            "LongName": "Video standing still",
            "Description": "1 while the video was paused, seeking or had no player: the rating covered no media time.",
            "Units": "arbitrary",
        },
    }


def _tsv(rows: Sequence[Sequence[object]]) -> str:
    return "".join("\t".join(str(cell) for cell in row) + "\n" for row in rows)


def _events(session: Session, dial: DialSamples) -> str:
    rows: list[list[object]] = [["onset", "duration", "trial_type", "detail", "media_time"]]
    origin = session.timeline.origin
    for event in session.events():
        if event.dial not in (None, dial.dial):
            continue
        detail = re.sub(r"[\t\n]", " ", event.detail) or "n/a"
        media = "n/a" if event.media_time is None else f"{event.media_time:.3f}"
        rows.append([f"{event.host_time - origin:.6f}", "0", event.kind, detail, media])
    return _tsv(rows)


def _json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def export_session(session: Session, root: Path) -> dict[str, str]:
    """One session's raters into root; returns subject label -> role."""
    ses = label(session.meta.session)
    origin = session.timeline.origin
    roles: dict[str, str] = {}
    for sub, dial in raters(session).items():
        folder = root / f"sub-{sub}" / f"ses-{ses}" / "beh"
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"sub-{sub}_ses-{ses}_task-{TASK}"
        rate = _rate(session, dial)
        start, lines = signal(dial, rate)
        physio = folder / f"{stem}_recording-{RECORDING}_physio.tsv.gz"
        # mtime 0: the same session exports to the same bytes.
        with gzip.GzipFile(physio, "wb", mtime=0) as handle:
            handle.write("".join(line + "\n" for line in lines).encode())
        firmware = session.meta.dials[dial.dial].firmware
        _json(
            physio.with_name(physio.name.replace(".tsv.gz", ".json")),
            sidecar(session.meta.scale, rate, start - origin, firmware),
        )
        (folder / f"{stem}_events.tsv").write_text(_events(session, dial))
        roles[sub] = dial.role
    return roles


def export_bids(sessions: Sequence[Path], out: Path) -> list[Path]:
    """Session folders into the BIDS dataset out (made, or added to); returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    participants: dict[str, str] = {}
    existing = out / "participants.tsv"
    if existing.exists():
        for line in existing.read_text().splitlines()[1:]:
            sub, _, role = line.partition("\t")
            participants[sub] = role
    for folder in sessions:
        for sub, role in export_session(read_session(folder), out).items():
            participants[f"sub-{sub}"] = role
    _json(
        out / "dataset_description.json",
        {
            "Name": "microdial continuous ratings",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "GeneratedBy": [{"Name": "microdial", "Version": __version__}],
        },
    )
    (out / "README").write_text(
        "Continuous ratings of recorded video made with microdial dials, one recording per rater and\n"
        "session (beh/*_recording-dial_physio.tsv.gz). Time zero of each session is its first sample\n"
        "across all raters; the events are the session's marks, button presses, connects and gaps.\n"
    )
    existing.write_text(_tsv([["participant_id", "role"], *sorted(participants.items())]))
    _json(
        out / "participants.json",
        {"role": {"Description": "The rater's role in the session (e.g. client, therapist, observer)."}},
    )
    _json(
        out / f"task-{TASK}_events.json",
        {
            "trial_type": {
                "Description": "What happened: a microdial event kind (mark, button, connect, gap, ...)."
            },
            "detail": {"Description": "The event's detail text, as the daemon or recorder wrote it."},
            "media_time": {"Description": "Position in the video at the event.", "Units": "s"},
        },
    )
    return sorted(p for p in out.rglob("*") if p.is_file())
